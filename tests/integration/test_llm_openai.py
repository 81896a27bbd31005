"""The openai backend against `python -m rag.llm.server` (llama.cpp's own HTTP server)."""


from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk
from pydantic import SecretStr

from rag.errors import BackendError
from rag.llm.factory import build_chat_model, check_backend
from rag.settings import Settings
from tests.conftest import free_port


def _test_model() -> Path:
    """The 0.5B model when installed (faster), else the default 1.5B."""
    from rag.llm.model_files import PACKAGED_MODELS, packaged_model_path

    small = PACKAGED_MODELS["qwen2.5-coder-0.5b"]
    if all(importlib.util.find_spec(small.module(i)) for i in range(1, small.n_parts + 1)):
        return packaged_model_path("qwen2.5-coder-0.5b")
    return packaged_model_path("qwen2.5-coder-1.5b")


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "stderr.log"
    cmd = [
        sys.executable,
        "-m",
        "rag.llm.server",
        "--model-path",
        str(_test_model()),
        "--port",
        str(port),
        "--threads",
        "2",
        "--ctx",
        "2048",
        "--model-name",
        "test-model",
        "--api-key",
        "sekrit",
    ]
    log_file = log_path.open("w")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=log_file, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the model is loaded and the socket listens
        if not line.startswith("listening on"):
            proc.kill()
            proc.wait()
            pytest.fail(f"server did not start: {line!r} {log_path.read_text()[-2000:]}")
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_file.close()
    assert proc.returncode == 0  # SIGTERM is a clean shutdown


def _settings(url: str, api_key: str = "sekrit") -> Settings:
    return Settings(
        backend="openai",
        openai_base_url=url,
        openai_model="test-model",
        openai_api_key=SecretStr(api_key),
        max_answer_tokens=16,
    )  # type: ignore[arg-type]


@pytest.mark.integration
@pytest.mark.llm
def test_server_lists_the_model(server_url: str) -> None:
    response = httpx.get(f"{server_url}/models", headers={"Authorization": "Bearer sekrit"}, timeout=5)
    assert [m["id"] for m in response.json()["data"]] == ["test-model"]
    assert httpx.get(f"{server_url}/models", timeout=5).status_code == 401


@pytest.mark.integration
@pytest.mark.llm
def test_check_backend_against_server(server_url: str) -> None:
    check_backend(build_chat_model(_settings(server_url)))
    with pytest.raises(BackendError, match="refused the API key"):
        check_backend(build_chat_model(_settings(server_url, api_key="nope")))


@pytest.mark.integration
@pytest.mark.llm
def test_openai_backend_invokes(server_url: str) -> None:
    model = build_chat_model(_settings(server_url))
    result = model.invoke("What is the capital of France? One word.")
    assert isinstance(result, AIMessage)
    assert "paris" in result.text.lower()
    assert result.usage_metadata and 0 < result.usage_metadata["output_tokens"] <= 16


@pytest.mark.integration
@pytest.mark.llm
def test_openai_backend_streams(server_url: str) -> None:
    model = build_chat_model(_settings(server_url))
    chunks = list(model.stream("Count from 1 to 5, separated by commas."))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert len([c for c in chunks if c.text]) >= 3
    full = chunks[0]
    for c in chunks[1:]:
        full += c
    assert full.text.replace(" ", "").startswith("1,2,3")
    assert full.usage_metadata and full.usage_metadata["output_tokens"] > 0
