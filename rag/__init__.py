"""Grounded question answering over a folder of news articles.

    from rag import build_chain
    answer = build_chain().invoke("Why won't Starmer leave the ECHR?")
"""

from rag import _env  # noqa: F401  (must run before torch/chromadb/gradio load)
from rag.errors import (
    BackendError,
    CorpusError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    ModelFileError,
    QuestionError,
    RagError,
)
from rag.settings import Settings, get_settings
from rag.types import Answer, Article, Citation, EvidenceEvent, Passage, RetrievedPassage, TokenEvent

__all__ = [
    "Answer",
    "Article",
    "BackendError",
    "Citation",
    "CorpusError",
    "EvidenceEvent",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexMissingError",
    "ModelFileError",
    "Passage",
    "QuestionError",
    "RagError",
    "RetrievedPassage",
    "Settings",
    "TokenEvent",
    "get_settings",
]
