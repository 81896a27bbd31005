"""The openai backend against `python -m rag.llm.server` (llama.cpp's own HTTP server)."""


from __future__ import annotations

import time

import httpx
import pytest
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from rag.errors import BackendError
from rag.llm.factory import build_chat_model, check_backend
from rag.settings import Settings
from tests.conftest import free_port


def test_build_openai_model_uses_settings() -> None:
    settings = Settings(
        backend="openai",
        openai_base_url="http://127.0.0.1:9/v1",
        openai_model="m",
        openai_api_key=SecretStr("k"),
        llm_timeout_s=7,
        temperature=0.3,
        max_answer_tokens=33,
    )
    model = build_chat_model(settings)
    assert isinstance(model, ChatOpenAI)
    assert model.openai_api_base == "http://127.0.0.1:9/v1" and model.model_name == "m"
    assert isinstance(model.openai_api_key, SecretStr) and model.openai_api_key.get_secret_value() == "k"
    assert model.request_timeout == 7 and model.max_retries == 1
    assert model.temperature == 0.3 and model.max_tokens == 33 and model.streaming


def test_extractive_has_no_chat_model() -> None:
    with pytest.raises(ValueError, match="extractive"):
        build_chat_model(Settings(backend="extractive"))


def test_unreachable_server_fails_fast() -> None:
    model = build_chat_model(Settings(backend="openai", openai_base_url=f"http://127.0.0.1:{free_port()}/v1"))
    start = time.perf_counter()
    with pytest.raises(BackendError, match="unreachable.*RAG_BACKEND=extractive") as info:
        check_backend(model)
    assert time.perf_counter() - start < 2
    assert "\n" not in str(info.value)


def test_unroutable_server_times_out_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.llm import factory

    monkeypatch.setattr(factory, "CHECK_TIMEOUT_S", 0.3)

    def hang(*args: object, **kwargs: object) -> None:
        raise httpx.ConnectTimeout("timed out")

    monkeypatch.setattr(httpx, "get", hang)
    with pytest.raises(BackendError, match="unreachable"):
        check_backend(build_chat_model(Settings(backend="openai")))
