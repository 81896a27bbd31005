"""Chroma vector store: the only module that imports chromadb.

Embedded ``PersistentClient`` under ``index_dir/chroma`` by default, or a Chroma
server when ``RAG_CHROMA_URL`` is set. We always hand Chroma our own embedding
function (its default one downloads a model) and our own vectors; telemetry is off.
Vectors are keyed by passage id, and Chroma distances are turned into cosine
similarities here, once.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb  # noqa: E402  (after _env: telemetry off)
import numpy as np
from chromadb.api.shared_system_client import SharedSystemClient
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings as ChromaSettings
from chromadb.utils.embedding_functions import register_embedding_function

from rag import _env  # noqa: F401
from rag.embeddings import SentenceEmbedder, get_embedder
from rag.errors import IndexCorruptError, IndexReadOnlyError, RagError
from rag.settings import Settings
from rag.text import first_line

log = logging.getLogger(__name__)

CHROMA_SUBDIR = "chroma"
# Article ids per filtered query, so a long list never makes one huge request (to a server).
_WHERE_CHUNK = 1000
# chromadb's client cache is not thread-safe: two threads opening the same embedded
# store at once fail ("Could not connect to tenant", KeyError on the path).
_OPEN_LOCK = threading.Lock()


@register_embedding_function
class RagEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma adapter over our sentence-transformers embedder (never Chroma's default)."""

    def __init__(self, model: str, batch_size: int = 64) -> None:
        self._model = model
        self._batch_size = batch_size

    @property
    def embedder(self) -> SentenceEmbedder:
        return get_embedder(self._model, self._batch_size)

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.embedder.encode(list(input)))

    @staticmethod
    def name() -> str:
        return "newsrag-sentence-transformers"

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        return {"model": self._model, "batch_size": self._batch_size}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> RagEmbeddingFunction:
        return RagEmbeddingFunction(config["model"], int(config.get("batch_size", 64)))


@dataclass(frozen=True)
class VectorHit:
    passage_id: str
    similarity: float  # cosine similarity, -1..1


class VectorStore:
    """Passage vectors in one Chroma collection."""

    def __init__(self, settings: Settings, *, expected_passages: int = 0, fresh: bool = False) -> None:
        """``expected_passages``: how many passages the catalog holds. A local store without a collection
        beside a catalog that has passages has lost its vectors, and says so instead of starting empty.

        ``fresh``: read the local store from disk again instead of sharing the process's open one, whose
        in-memory vector index does not see what another process (a command-line `rag index`) wrote.
        The open one is left running for whoever still reads it.
        """
        self.settings = settings
        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        with _OPEN_LOCK:
            if fresh and not settings.chroma_url:
                SharedSystemClient._identifier_to_system.pop(str(Path(settings.index_dir) / CHROMA_SUBDIR), None)
            self._open(settings, chroma_settings, expected_passages)

    def _open(self, settings: Settings, chroma_settings: ChromaSettings, expected_passages: int) -> None:
        try:
            if settings.chroma_url:
                url = urlparse(settings.chroma_url)
                if not url.hostname:
                    raise RagError(f"RAG_CHROMA_URL is not a URL: {settings.chroma_url!r} (expected http://host:8000)")
                self.client = chromadb.HttpClient(
                    host=url.hostname,
                    port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https",
                    settings=chroma_settings,
                )
                self.location = settings.chroma_url
            else:
                path = Path(settings.index_dir) / CHROMA_SUBDIR
                path.mkdir(parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
                self.location = str(path)
            if not settings.chroma_url and settings.collection not in {c.name for c in self.client.list_collections()}:
                _check_nothing_lost(expected_passages, self.location)  # before creating the collection afresh
            self.collection = self.client.get_or_create_collection(
                name=settings.collection,
                embedding_function=RagEmbeddingFunction(  # type: ignore[arg-type]
                    settings.resolved_embedding_model(), settings.embedding_batch_size
                ),
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"fingerprint": settings.index_fingerprint()},
            )
        except RagError:
            raise
        except Exception as exc:  # chromadb raises many types (connection, sqlite, rust panics)
            where = settings.chroma_url or Path(settings.index_dir) / CHROMA_SUBDIR
            if not settings.chroma_url and ("readonly" in str(exc) or isinstance(exc, PermissionError)):
                raise IndexReadOnlyError(
                    settings.index_dir, f"the embedded Chroma store needs write access to {where} even to search"
                ) from exc
            raise IndexCorruptError(
                f"Cannot open the Chroma store at {where}: {exc}. "
                "Check that the server is running, or run `rag index --rebuild` to rebuild a damaged local index."
            ) from exc

    def recreate(self) -> None:
        """Delete the collection and start an empty one (`rag index --rebuild` against a server)."""
        with _OPEN_LOCK:
            self.client.delete_collection(self.settings.collection)
        self._open(self.settings, ChromaSettings(anonymized_telemetry=False), 0)

    @property
    def max_batch(self) -> int:
        return int(self.client.get_max_batch_size())

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Chroma's errors on reads (Rust InternalError, sqlite errors, connection errors) as one clear line."""
        try:
            yield
        except RagError:
            raise
        except Exception as exc:
            advice = ("check that the Chroma server is running" if self.settings.chroma_url
                      else "run `rag index`, which repairs an interrupted run, or `rag index --rebuild` if it fails")
            reason = first_line(exc, 300)
            raise IndexCorruptError(
                f"The Chroma store at {self.location} cannot be read ({reason}): {advice}."
            ) from exc

    def count(self) -> int:
        with self.reading():
            return int(self.collection.count())

    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, documents: Sequence[str], metadatas: Sequence[dict[str, Any]]
    ) -> None:
        """Insert or overwrite vectors, in batches within Chroma's limit."""
        step = self.max_batch
        for start in range(0, len(ids), step):
            end = start + step
            self.collection.upsert(
                ids=list(ids[start:end]),
                embeddings=vectors[start:end],
                documents=list(documents[start:end]),
                metadatas=list(metadatas[start:end]),  # type: ignore[arg-type]
            )

    def delete(self, ids: Sequence[str]) -> None:
        step = self.max_batch
        for start in range(0, len(ids), step):
            self.collection.delete(ids=list(ids[start : start + step]))

    def all_ids(self) -> set[str]:
        """Every stored id, paged (a collection can hold millions)."""
        ids: set[str] = set()
        page = 10_000
        offset = 0
        while True:
            with self.reading():
                got = self.collection.get(include=[], limit=page, offset=offset)
            ids.update(got["ids"])
            if len(got["ids"]) < page:
                return ids
            offset += page

    def query(self, vector: np.ndarray, n: int, articles: Sequence[str] | None = None) -> list[VectorHit]:
        """The n nearest passages, most similar first; only those of ``articles`` (ids) when given.

        The article ids go to Chroma as a ``where`` on the passages' ``article_id``, in slices of
        ``_WHERE_CHUNK`` (one query each, merged), so a long list never makes one huge request.
        """
        if n <= 0 or (articles is not None and not articles):
            return []
        if articles is None:
            return self._query(vector, n, None)
        hits: list[VectorHit] = []
        for start in range(0, len(articles), _WHERE_CHUNK):
            chunk = list(articles[start : start + _WHERE_CHUNK])
            hits += self._query(vector, n, {"article_id": {"$in": chunk}})
        return sorted(hits, key=lambda hit: -hit.similarity)[:n] if len(articles) > _WHERE_CHUNK else hits

    def _query(self, vector: np.ndarray, n: int, where: dict[str, Any] | None) -> list[VectorHit]:
        with self.reading():
            result = self.collection.query(query_embeddings=[vector], n_results=n, where=where,
                                           include=["distances"])
        ids = result["ids"][0]
        distances = (result["distances"] or [[]])[0]
        # cosine space: distance = 1 - cosine similarity.
        return [VectorHit(pid, 1.0 - float(d)) for pid, d in zip(ids, distances, strict=True)]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        with self.reading():
            got = self.collection.get(ids=list(ids), include=["embeddings"])
        embeddings = got["embeddings"]
        if embeddings is None:
            return {}
        return {pid: np.asarray(vec, dtype=np.float32) for pid, vec in zip(got["ids"], embeddings, strict=True)}


def _check_nothing_lost(passages: int, location: str) -> None:
    """No local collection beside a catalog with passages means the vectors were lost (a deleted or emptied
    chroma/ folder): a new empty one would make search silently keyword-only, and `rag index` re-embeds nothing."""
    if passages:
        raise IndexCorruptError(
            f"The Chroma store at {location} has lost its vectors ({passages} passages in the catalog, "
            "none in the store): run `rag index --rebuild`."
        )


def drop_vectors(settings: Settings) -> None:
    """Delete the collection (used by `rag index --rebuild`); a damaged local store is removed from disk."""
    try:
        store = VectorStore(settings)
        with _OPEN_LOCK:
            store.client.delete_collection(settings.collection)
    except Exception:  # a corrupt local store cannot even be opened
        if settings.chroma_url:
            raise
        log.warning("local Chroma store unreadable; deleting it from disk")
        shutil.rmtree(Path(settings.index_dir) / CHROMA_SUBDIR, ignore_errors=True)
        # chromadb caches one client per path; a deleted folder must not be reused.
        with _OPEN_LOCK:
            SharedSystemClient.clear_system_cache()
