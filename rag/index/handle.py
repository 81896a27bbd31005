"""The index as one object: ``Index.open(settings)`` is the only way the query side opens it.

An index folder holds the catalog (SQLite: articles, passages, sentence vectors;
the source of truth), the BM25 files and, unless a Chroma server holds them, the
passage vectors. Each folder is opened once per process and shared by every
search, status line and app session; a wipe (`rag index --rebuild`) makes the
next ``open`` start afresh. The articles' publishers and dates, which filters
look at, are read into memory once per catalog generation. Writing stays with
:mod:`rag.index.build`.

With a Chroma server (``RAG_CHROMA_URL``) the folder is only this replica's cache
of the server's index (:mod:`rag.index.remote`): every ``open`` looks at the
server's generation (at most once a second) and copies what changed first.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import IndexMissingError
from rag.index.bm25 import LexicalIndex
from rag.index.catalog import CATALOG_FILE, Catalog, wipe_count, written_here
from rag.index.facets import ArticleFacets
from rag.index.remote import ServerRecords, ServerState, check_cache, sync_cache
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.index.vectors import VectorStore

log = logging.getLogger(__name__)

# What identifies an opened index: where it is, where its vectors are, and what built it.
_IDENTITY = frozenset({"index_dir", "chroma_url", "collection", "embedding_model", "chunk_max_chars",
                       "chunk_overlap_sentences"})
# How often a replica asks the server whether the index changed (one small read).
REFRESH_SECONDS = 1.0


class Index:
    """One index folder, opened: its catalog, its vector store (opened on first use) and its BM25 matrix."""

    def __init__(self, settings: Settings) -> None:
        """Use :meth:`open`, which shares one Index per folder; raises IndexMissingError / IndexCorruptError /
        IndexMismatchError when there is no usable index."""
        self.settings = settings
        self.dir = Path(settings.index_dir)
        self._vectors: VectorStore | None = None
        self._vectors_generation = -1
        self._vectors_stale = False
        self._vectors_lock = threading.Lock()
        self._lexical: LexicalIndex | None = None
        self._lexical_lock = threading.Lock()
        self._facets: ArticleFacets | None = None
        self._facets_lock = threading.Lock()
        self._records: ServerRecords | None = None
        self._refresh_lock = threading.Lock()
        self._checked_at = float("-inf")
        if settings.chroma_url:  # the server holds the index; the folder is this replica's cache of it
            self.catalog = Catalog(self.dir, create=True)
            check_cache(self.catalog, settings)
            self._records = _server_records(settings)
            self._vectors = self._records.store
            self._records.check_fingerprint(settings.index_fingerprint())
            if self._records.state() is None:
                raise IndexMissingError(
                    f"No index in {self._records.location}: run `rag index` (with RAG_CHROMA_URL set) first."
                )
            self.refresh()
        else:
            self.catalog = Catalog(self.dir)
            self.catalog.check_fingerprint(settings.index_fingerprint())
        # The catalog file this Index reads: while its connection is open the inode cannot be reused, so a
        # different inode (or none) means another process rebuilt or deleted the index.
        self._catalog_inode = _inode(self.dir / CATALOG_FILE)

    @staticmethod
    def exists(settings: Settings) -> bool:
        """Whether an index has been built at ``settings.index_dir``, or in the Chroma server when one is set
        (usable or not: open() says which)."""
        if settings.chroma_url:
            return _server_records(settings).state() is not None
        return (Path(settings.index_dir) / CATALOG_FILE).exists()

    @classmethod
    def open(cls, settings: Settings) -> Index:
        """The shared Index of ``settings.index_dir``: opened now if this process has not yet, since a wipe, or
        since another process replaced the catalog."""
        key = (settings.model_dump_json(include=_IDENTITY), wipe_count(Path(settings.index_dir)))
        with _OPEN_LOCK:
            index = _OPENED.get(key)
            if index is None or index.replaced():
                index = _OPENED[key] = cls(settings)
        index.refresh()
        return index

    def refresh(self) -> None:
        """Server mode: copy into the cache what any replica indexed since the last look (at most once every
        ``REFRESH_SECONDS``: one small read of the server's state record)."""
        if self._records is None or time.monotonic() - self._checked_at < REFRESH_SECONDS:
            return
        with self._refresh_lock:
            if time.monotonic() - self._checked_at < REFRESH_SECONDS:
                return  # another thread just did
            state = self._records.state()
            if self._stale(state):
                if state is not None and state.epoch != self.catalog.get_meta("server_epoch"):
                    # Rebuilt on the server: its passages are a new collection, which the old handle cannot see.
                    self._records = _server_records(self.settings)
                    with self._vectors_lock:
                        self._vectors = self._records.store
                sync_cache(self.catalog, self._records)
            self._checked_at = time.monotonic()

    def _stale(self, state: ServerState | None) -> bool:
        if state is None:
            return bool(self.catalog.counts()[0])
        return state.generation != self.catalog.generation or state.epoch != self.catalog.get_meta("server_epoch")

    def replaced(self) -> bool:
        """Whether the catalog file was deleted or replaced since this Index opened it (`rag index --rebuild`
        in another process): the next :meth:`open` then opens the new one."""
        return _inode(self.dir / CATALOG_FILE) != self._catalog_inode

    @property
    def vectors(self) -> VectorStore:
        """The passage vectors (Chroma, embedded or a server), opened on first use: Chroma takes seconds to import."""
        generation = self.catalog.generation
        with self._vectors_lock:
            changed = generation != self._vectors_generation
            if changed and generation == written_here(self.dir) and self._vectors is not None:
                changed = False  # this process wrote it, through the store it shares: nothing unseen
            if self._vectors is None or ((changed or self._vectors_stale) and not self.settings.chroma_url):
                # First use, or another process changed the index: an embedded store is read from disk again,
                # so that what it indexed is found (a Chroma server always serves the latest).
                from rag.index.vectors import VectorStore

                fresh = self._vectors is not None
                self._vectors = VectorStore(self.settings, expected_passages=self.catalog.counts()[1], fresh=fresh)
                self._vectors_stale = False
            self._vectors_generation = generation
            return self._vectors

    def reload_vectors(self) -> None:
        """Read an embedded store from disk again at the next use (a read failed while another process wrote)."""
        with self._vectors_lock:
            self._vectors_stale = True

    def lexical(self) -> LexicalIndex:
        """The BM25 index for the catalog's current generation (reloaded after re-indexing)."""
        generation = self.catalog.generation
        with self._lexical_lock:
            if self._lexical is None or self._lexical.generation != generation:
                saved = LexicalIndex.load(self.dir)
                if saved is None or saved.generation != generation:
                    log.info("BM25 index stale or missing; rebuilding in memory")
                    saved = LexicalIndex.build(list(self.catalog.iter_passage_texts()), generation)
                    if self._records is not None:  # a replica's cache: kept for its next start
                        _save_quietly(saved, self.dir)
                self._lexical = saved
            return self._lexical

    def facets(self) -> ArticleFacets:
        """Publishers, dates and passages of every article, for filters (read again after re-indexing)."""
        # The generation is read first: a write during the read leaves facets stamped older, read again next time.
        generation = self.catalog.generation
        with self._facets_lock:
            if self._facets is None or self._facets.generation != generation:
                articles, passages = self.catalog.facet_rows()
                self._facets = ArticleFacets(articles, passages, generation)
            return self._facets

    def status(self) -> dict[str, object]:
        """Counts and locations, for `rag info` and the app's status line."""
        articles, passages = self.catalog.counts()
        last = self.catalog.get_meta("last_indexed")
        return {
            "corpus": str(self.settings.corpus_dir),
            "index": str(self.settings.index_dir),
            "vectors at": self.vectors.location,
            "articles": articles,
            "passages": passages,
            "vectors": self.vectors.count(),
            "last indexed": (
                datetime.fromtimestamp(float(last), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
                if last else "never"
            ),
            "fingerprint": self.catalog.get_meta("fingerprint"),
            "interrupted": self.catalog.get_meta("dirty") == "1",
        }


def _server_records(settings: Settings) -> ServerRecords:
    from rag.index.vectors import VectorStore

    return ServerRecords(settings, VectorStore(settings))


def _save_quietly(lexical: LexicalIndex, index_dir: Path) -> None:
    try:
        lexical.save(index_dir)
    except OSError as exc:
        log.info("BM25 cache not saved in %s: %s", index_dir, exc)


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


_OPENED: dict[tuple[str, int], Index] = {}
_OPEN_LOCK = threading.Lock()


def forget_opened() -> None:
    """Close nothing, forget every opened index: the next open reads the folder cold (benchmarks, tests)."""
    with _OPEN_LOCK:
        _OPENED.clear()
