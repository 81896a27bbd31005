"""LangChain's standard chat-model integration suite, run against ChatLlamaCpp.

It uses the 0.5B packaged model when installed (about three times faster than
the 1.5B) and small ``max_tokens``, so it takes a few minutes on two cores. What
the model does not support is declared once, in tests/unit/test_llm_standard.py.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_tests.integration_tests import ChatModelIntegrationTests

from rag.llm import local
from rag.llm.local import ChatLlamaCpp
from rag.llm.model_files import PACKAGED_MODELS, packaged_model_path
from tests.unit import test_llm_standard as unit_suite  # a module, so its test class is not collected twice

pytestmark = unit_suite.pytestmark  # the asyncio mark, for the same reason


@pytest.fixture(scope="module", autouse=True)
def _free_model_afterwards() -> Iterator[None]:
    yield
    local.unload_all()  # give the memory back to the rest of the test session


def _small_model_installed() -> bool:
    spec = PACKAGED_MODELS["qwen2.5-coder-0.5b"]
    return all(importlib.util.find_spec(spec.module(i)) for i in range(1, spec.n_parts + 1))


@pytest.mark.integration
@pytest.mark.llm
class TestChatLlamaCppIntegration(unit_suite.Capabilities, ChatModelIntegrationTests):
    @property
    def chat_model_params(self) -> dict[str, Any]:
        name = "qwen2.5-coder-0.5b" if _small_model_installed() else "qwen2.5-coder-1.5b"
        path: Path = packaged_model_path(name)  # type: ignore[arg-type]
        return {"model_path": str(path), "max_tokens": 24, "n_threads": 2, "n_ctx": 2048}

    def invoke_with_cache_read_input(self, *, stream: bool = False) -> AIMessage:
        model = ChatLlamaCpp(**{**self.chat_model_params, "max_tokens": 4})
        system = SystemMessage("You are a helpful assistant. " * 40)
        model.invoke([system, HumanMessage("Say hi.")])  # fills the cache
        messages = [system, HumanMessage("Say bye.")]
        if not stream:
            result = model.invoke(messages)
        else:
            full = None
            for chunk in model.stream(messages):
                full = chunk if full is None else full + chunk
            assert full is not None
            result = AIMessage(
                content=full.content, usage_metadata=full.usage_metadata, response_metadata=full.response_metadata
            )
        assert result.usage_metadata and result.usage_metadata["input_token_details"]["cache_read"] > 100
        return result
