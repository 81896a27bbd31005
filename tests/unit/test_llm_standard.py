"""LangChain's standard chat-model unit suite, run against ChatLlamaCpp (no model is loaded).

Features the model genuinely lacks are switched off through the suite's
documented properties (``Capabilities``, shared with the integration suite in
tests/integration/test_llm_standard.py): tool calling, structured output, JSON
mode, image/audio/PDF inputs and per-call model override (one GGUF per engine).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.unit_tests import ChatModelUnitTests

from rag.llm.local import ChatLlamaCpp

# The suites' async tests carry no asyncio marker of their own and may not be
# overridden, so the mark is applied module-wide; pytest-asyncio then warns about
# each sync test, which is noise here.
pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings(
        "ignore:The test <Function .* is marked with '@pytest.mark.asyncio':pytest.PytestWarning"
    ),
]


class Capabilities:
    """What ChatLlamaCpp does and does not support, shared by both suites."""

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ChatLlamaCpp

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def supports_json_mode(self) -> bool:
        return False

    @property
    def supports_image_inputs(self) -> bool:
        return False

    @property
    def supports_model_override(self) -> bool:
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def supported_usage_metadata_details(self) -> dict[Any, list[Any]]:
        return {"invoke": ["cache_read_input"], "stream": ["cache_read_input"]}


class TestChatLlamaCppUnit(Capabilities, ChatModelUnitTests):
    @property
    def chat_model_params(self) -> dict[str, Any]:
        # Unit tests never call the model, so any path will do.
        return {"model_path": "unused.gguf"}

    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        params = dict(super().standard_chat_model_params)
        params.pop("api_key", None)  # a local model has no API key
        return params
