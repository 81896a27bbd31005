"""ChatLlamaCpp: conversions and scoring without a model, then the real 1.5B model (marked llm)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, ChatMessage, HumanMessage, SystemMessage, ToolMessage

from rag.errors import BackendError, ModelFileError
from rag.llm import local
from rag.llm.local import ChatLlamaCpp, score_choices, to_openai_messages

# --- without a model ---------------------------------------------------------------


def test_messages_become_openai_dicts() -> None:
    messages = [
        SystemMessage("rules"),
        HumanMessage("hi", name="ann"),
        AIMessage("hello"),
        HumanMessage([{"type": "text", "text": "a"}, "b"]),
        ToolMessage("42", tool_call_id="t1"),
        ChatMessage(role="user", content="x"),
    ]
    assert to_openai_messages(messages) == [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "ab"},
        {"role": "tool", "content": "42"},
        {"role": "user", "content": "x"},
    ]


def test_images_are_refused() -> None:
    image = HumanMessage([{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}])
    with pytest.raises(ValueError, match="text only"):
        to_openai_messages([image])


def test_score_choices_normalises_over_matching_tokens() -> None:
    top = [("Yes", math.log(0.6)), (" yes", math.log(0.1)), ("No", math.log(0.2)), ("The", math.log(0.1))]
    probs = score_choices(top, ("Yes", "No"))
    assert probs == pytest.approx({"Yes": 0.7 / 0.9, "No": 0.2 / 0.9})
    assert sum(probs.values()) == pytest.approx(1.0)


def test_score_choices_counts_first_piece_of_multitoken_choice() -> None:
    top = [("Part", math.log(0.5)), ("Sup", math.log(0.3)), ("Un", math.log(0.2))]
    probs = score_choices(top, ("Supported", "Partially", "Unsupported"))
    assert probs == pytest.approx({"Supported": 0.3, "Partially": 0.5, "Unsupported": 0.2})


def test_score_choices_ignores_ambiguous_prefix() -> None:
    top = [("N", math.log(0.5)), ("No", math.log(0.25)), ("Not", math.log(0.25))]
    # "N" starts both choices; exact matches win for "No" and "Not".
    assert score_choices(top, ("No", "Not sure")) == pytest.approx({"No": 0.5, "Not sure": 0.5})


def test_score_choices_without_any_match_is_an_error() -> None:
    with pytest.raises(BackendError, match="likely first tokens"):
        score_choices([("Maybe", -0.1)], ("Yes", "No"))
    with pytest.raises(ValueError):
        score_choices([("Yes", -0.1)], ("Yes", "Yes"))


def test_context_overflow_message_is_actionable() -> None:
    error = {"error": {"type": "exceed_context_size_error", "n_prompt_tokens": 5000, "n_ctx": 4096, "message": "x"}}
    with pytest.raises(BackendError, match=r"5000 tokens.*4096 tokens.*RAG_LLM_CONTEXT"):
        local._raise_for_error(error)


def test_construction_is_cheap_and_lazy(tmp_path: Path) -> None:
    start = time.perf_counter()
    model = ChatLlamaCpp(model_path=tmp_path / "never-loaded.gguf", max_tokens=8, stop=["\n"])
    assert time.perf_counter() - start < 0.1
    assert model.model_name == "never-loaded"
    assert model._llm_type == "llamacpp-chat"
    assert model._identifying_params["max_tokens"] == 8
    ls = model._get_ls_params()
    assert ls["ls_provider"] == "llamacpp" and ls["ls_model_name"] == "never-loaded"
    assert ls["ls_stop"] == ["\n"] and ls["ls_max_tokens"] == 8


def test_engine_key_is_load_params_only(tmp_path: Path) -> None:
    a = ChatLlamaCpp(model_path=tmp_path / "m.gguf", temperature=0.0, max_tokens=5)
    b = ChatLlamaCpp(model_path=str(tmp_path / "m.gguf"), temperature=0.7, max_tokens=50, stop=["x"])
    c = ChatLlamaCpp(model_path=tmp_path / "m.gguf", n_ctx=2048)
    assert a.engine_config == b.engine_config != c.engine_config


def test_missing_model_file_is_a_model_file_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        ChatLlamaCpp(model_path=tmp_path / "nope.gguf").invoke("hi")


def test_unloadable_model_is_a_backend_error(tmp_path: Path) -> None:
    bad = tmp_path / "truncated.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 100)
    with pytest.raises(BackendError, match="could not load truncated.gguf"):
        ChatLlamaCpp(model_path=bad).load()
    with pytest.raises(ModelFileError, match="not a GGUF"):
        (tmp_path / "x.gguf").write_bytes(b"nope")
        ChatLlamaCpp(model_path=tmp_path / "x.gguf").load()


# --- the real 1.5B model ---------------------------------------------------------


@pytest.fixture(scope="module")
def model_path() -> Iterator[Path]:
    from rag.llm.model_files import packaged_model_path

    yield packaged_model_path("qwen2.5-coder-1.5b")
    local.unload_all()  # give the memory back to the rest of the test session


@pytest.fixture
def llm(model_path: Path) -> ChatLlamaCpp:
    return ChatLlamaCpp(model_path=model_path, n_threads=2, n_ctx=2048, max_tokens=12)


@pytest.mark.integration
@pytest.mark.llm
def test_load_once_and_share(llm: ChatLlamaCpp, model_path: Path) -> None:
    llm.load()
    other = ChatLlamaCpp(model_path=model_path, n_threads=2, n_ctx=2048, temperature=1.0, max_tokens=99)
    start = time.perf_counter()
    other.load()
    assert time.perf_counter() - start < 0.01
    assert local.get_engine(llm.engine_config) is local.get_engine(other.engine_config)


@pytest.mark.integration
@pytest.mark.llm
def test_invoke(llm: ChatLlamaCpp) -> None:
    result = llm.invoke([SystemMessage("Answer in one word."), HumanMessage("What is the capital of France?")])
    assert isinstance(result, AIMessage)
    assert "paris" in result.text.lower()
    usage = result.usage_metadata
    assert usage and usage["input_tokens"] > 10 and 0 < usage["output_tokens"] <= 12
    assert result.response_metadata["model_name"] == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert result.response_metadata["finish_reason"] in {"stop", "length"}
    assert result.response_metadata["timings"]["predicted_n"] == usage["output_tokens"]


@pytest.mark.integration
@pytest.mark.llm
def test_max_tokens(llm: ChatLlamaCpp) -> None:
    result = llm.invoke("Write a long poem about the sea.", max_tokens=3)
    assert result.usage_metadata and result.usage_metadata["output_tokens"] == 3
    assert result.response_metadata["finish_reason"] == "length"


@pytest.mark.integration
@pytest.mark.llm
def test_stream_yields_tokens_then_usage(llm: ChatLlamaCpp) -> None:
    chunks = list(llm.stream("Count from 1 to 5, separated by commas."))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    texts = [c.text for c in chunks if c.text]
    assert len(texts) >= 3  # token by token, not one block
    assert chunks[-1].chunk_position == "last"
    full = chunks[0]
    for c in chunks[1:]:
        full += c
    assert full.text.replace(" ", "").startswith("1,2,3")
    assert full.usage_metadata and full.usage_metadata["output_tokens"] >= 3


@pytest.mark.integration
@pytest.mark.llm
def test_stop_sequence(llm: ChatLlamaCpp) -> None:
    question = "Count from 1 to 9, separated by commas, nothing else."
    result = llm.invoke(question, stop=["4"])
    assert "3" in result.text and "4" not in result.text and "5" not in result.text
    assert result.response_metadata["finish_reason"] == "stop"
    streamed = "".join(c.text for c in llm.bind(stop=["4"]).stream(question))
    assert streamed == result.text


@pytest.mark.integration
@pytest.mark.llm
def test_stop_early_then_reuse(llm: ChatLlamaCpp) -> None:
    stream = llm.stream("Count from 1 to 100.", max_tokens=200)
    next(stream)
    stream.close()  # type: ignore[attr-defined]  # the generation is cancelled, the slot freed
    assert llm.invoke("Say OK.", max_tokens=3).text


@pytest.mark.integration
@pytest.mark.llm
def test_timeout(llm: ChatLlamaCpp) -> None:
    slow = llm.model_copy(update={"timeout": 0.05, "max_tokens": 200})
    with pytest.raises(BackendError, match="did not finish within"):
        slow.invoke("Count from 1 to 100.")


@pytest.mark.integration
@pytest.mark.llm
def test_repeated_system_prefix_is_cached(llm: ChatLlamaCpp) -> None:
    system = SystemMessage(
        "You answer from the evidence only. "
        + " ".join(f"[{i}] On day {i} the council discussed the library budget and the roads." for i in range(1, 13))
    )
    first = llm.invoke([system, HumanMessage("What happened on day 3?")], max_tokens=1)
    second = llm.invoke([system, HumanMessage("What happened on day 9?")], max_tokens=1)
    t1, t2 = first.response_metadata["timings"], second.response_metadata["timings"]
    assert second.usage_metadata and second.usage_metadata["input_token_details"]["cache_read"] > 150
    assert t2["prompt_n"] < 30 < t1["prompt_n"]  # only the new question is read
    assert t2["prompt_ms"] < t1["prompt_ms"] / 3


@pytest.mark.integration
@pytest.mark.llm
def test_concurrent_calls_share_the_engine(llm: ChatLlamaCpp) -> None:
    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda q=q: answers.append(llm.invoke(q, max_tokens=4).text))
        for q in ("Say yes.", "Say no.")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(answers) == 2 and all(answers)


@pytest.mark.integration
@pytest.mark.llm
def test_choice_probabilities(llm: ChatLlamaCpp) -> None:
    system = SystemMessage("Answer with Yes or No only.")
    yes = llm.choice_probabilities([system, HumanMessage("Is Paris the capital of France?")])
    no = llm.choice_probabilities([system, HumanMessage("Is Berlin the capital of France?")])
    for probs in (yes, no):
        assert set(probs) == {"Yes", "No"}
        assert sum(probs.values()) == pytest.approx(1.0)
    assert yes["Yes"] > 0.8 and no["No"] > 0.8
    three = llm.choice_probabilities(
        "Which is a colour? Answer with one word: Red, Dog or Table.", choices=("Red", "Dog", "Table")
    )
    assert max(three, key=three.__getitem__) == "Red"


# --- factory ---------------------------------------------------------------------


def test_build_local_model_from_settings(tmp_path: Path) -> None:
    from rag.llm.factory import build_chat_model, check_backend
    from rag.settings import Settings

    path = tmp_path / "mine.gguf"
    path.write_bytes(b"GGUF" + b"\x00" * 64)
    settings = Settings(llm_model_path=path, llm_threads=3, llm_context=1024, temperature=0.2, max_answer_tokens=77)
    model = build_chat_model(settings)
    assert isinstance(model, ChatLlamaCpp)
    assert (model.model_path, model.model_name) == (str(path), "mine")
    assert (model.n_threads, model.n_ctx, model.temperature, model.max_tokens) == (3, 1024, 0.2, 77)
    with pytest.raises(BackendError, match="could not load mine.gguf"):
        check_backend(model)
