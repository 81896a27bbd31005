"""ChatLlamaCpp: conversions and scoring without a model, then the real 1.5B model (marked llm)."""


from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage

from rag.errors import BackendError, ModelFileError
from rag.llm import local
from rag.llm.local import ChatLlamaCpp, score_choices, to_openai_messages


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
