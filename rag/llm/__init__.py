"""LLM backends as LangChain chat models.

    from rag.llm import build_chat_model, check_backend
    model = build_chat_model(settings)   # ChatLlamaCpp (local) or ChatOpenAI (openai)
    check_backend(model)                 # BackendError now rather than mid-answer

Names are imported on first use, so ``import rag.llm`` stays cheap (no
langchain_openai, no llama.cpp) for code that only needs the model files.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.llm.factory import build_chat_model, check_backend
    from rag.llm.local import ChatLlamaCpp, score_choices, unload_all
    from rag.llm.model_files import assemble, packaged_model_path, resolve_model_path

_EXPORTS = {
    "ChatLlamaCpp": "rag.llm.local",
    "score_choices": "rag.llm.local",
    "unload_all": "rag.llm.local",
    "build_chat_model": "rag.llm.factory",
    "check_backend": "rag.llm.factory",
    "assemble": "rag.llm.model_files",
    "packaged_model_path": "rag.llm.model_files",
    "resolve_model_path": "rag.llm.model_files",
}

__all__ = [
    "ChatLlamaCpp",
    "assemble",
    "build_chat_model",
    "check_backend",
    "packaged_model_path",
    "resolve_model_path",
    "score_choices",
    "unload_all",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rag.llm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
