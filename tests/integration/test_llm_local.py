"""ChatLlamaCpp: conversions and scoring without a model, then the real 1.5B model (marked llm)."""


from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage

from rag.errors import BackendError
from rag.llm import local
from rag.llm.local import ChatLlamaCpp


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
