"""Grounded question answering over a folder of news articles.

    from rag import build_chain
    answer = build_chain().invoke("Why won't Starmer leave the ECHR?")
"""

from rag import _env  # noqa: F401  (must run before torch/chromadb/gradio load)
from rag.errors import (
    BackendError,
    CorpusError,
    DiskFullError,
    FilterError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    IndexReadOnlyError,
    ModelFileError,
    QuestionError,
    RagError,
    SettingsError,
)
from rag.settings import Settings, get_settings
from rag.types import Answer, Article, Citation, EvidenceEvent, Filters, Passage, RetrievedPassage, TokenEvent

# Heavy entry points (torch, chromadb, llama.cpp) load on first use, so that
# `import rag` stays cheap for code that only needs settings or records.
_LAZY = {
    "build_chain": "rag.answer.chain",
    "RagChain": "rag.answer.chain",
    "build_retriever": "rag.answer.retrieve",
    "HybridRetriever": "rag.answer.retrieve",
    "build_index": "rag.index.build",
    "Index": "rag.index.handle",
    "IndexReport": "rag.index.build",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")

__all__ = [
    "Answer",
    "HybridRetriever",
    "IndexReport",
    "RagChain",
    "build_chain",
    "build_index",
    "build_retriever",
    "Article",
    "BackendError",
    "Citation",
    "CorpusError",
    "DiskFullError",
    "EvidenceEvent",
    "FilterError",
    "Filters",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexMissingError",
    "IndexReadOnlyError",
    "Index",
    "ModelFileError",
    "Passage",
    "QuestionError",
    "RagError",
    "RetrievedPassage",
    "SettingsError",
    "Settings",
    "TokenEvent",
    "get_settings",
]
