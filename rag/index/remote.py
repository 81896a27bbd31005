"""Server mode: the Chroma server is the index's one system of record.

With ``RAG_CHROMA_URL`` set, everything a replica needs to answer lives in the server,
in three collections named after ``RAG_COLLECTION``:

- ``{collection}``: the passages, each with its vector, text, offsets, article fields,
  the article's content hash and its sentence spans and vectors (float16, base64);
- ``{collection}-articles``: one record per article, its cleaned text and metadata
  (source, title, publisher, date, url, content hash, passage count): the manifest;
- ``{collection}-state``: one record holding the index generation, the fingerprint,
  the dirty flag of an interrupted run and the writers' lease.

A replica's ``index/`` folder is a cache: :func:`sync_cache` copies what changed into
the local catalog (whose BM25 matrix and filter arrays are derived in memory as in
embedded mode), and any of it can be deleted at any time.

Why readers never see a half-written article: a writer upserts an article's passages
first, then its article record (the commit point), then deletes the previous version's
passages, then bumps the generation. A reader keeps only the passages whose content
hash is the article record's, so passages written before their record (a crash, or a
write in progress) and passages of a replaced version are invisible. Writers take the
lease, so the dirty-flag repair and the orphan sweep never race another writer.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import IndexMismatchError, RagError
from rag.settings import Settings
from rag.types import Article, Passage, SentenceVectors

if TYPE_CHECKING:
    from rag.index.catalog import Catalog
    from rag.index.vectors import VectorStore

log = logging.getLogger(__name__)

_STATE_ID = "state"
_UNIT = [1.0]  # records that are not searched by similarity still need a vector: one dimension, constant
_PAGE = 1000  # records per read: a few hundred kB of metadata per request
_FETCH_ARTICLES = 100  # articles copied per round of a cache sync
LEASE_SECONDS = 60.0  # a writer renews its lease after every group; a dead writer's lease expires after this
_SETTLE_SECONDS = 1.0  # between writing a lease and checking it is still ours: longer than any read-then-write gap


@dataclass(frozen=True)
class ServerState:
    generation: int  # changes with every committed change (a nanosecond clock: never reused)
    epoch: str  # changes when the index is wiped (`rag index --rebuild`): caches start over
    fingerprint: str | None
    dirty: bool
    last_indexed: float | None
    lease: str  # the writer holding the index ("" when free)
    lease_until: float


def passage_metadata(
    passage: Passage, article: Article, sentences: SentenceVectors | None, *, full: bool
) -> dict[str, Any]:
    """What Chroma keeps beside a passage's vector: enough to show it without the catalog, and with ``full``
    (server mode) everything the catalog would hold of it."""
    meta: dict[str, Any] = {
        "article_id": passage.article_id, "source": article.source, "title": article.title,
        "ordinal": passage.ordinal, "start": passage.start, "end": passage.end,
    }
    if full:
        meta["content_hash"] = article.content_hash
        meta.update({key: value for key, value in (("publisher", article.publisher), ("date", article.date))
                     if value is not None})  # Chroma keeps no None
        if sentences is not None:
            meta["sentence_spans"] = json.dumps(sentences.spans)
            meta["sentence_vectors"] = base64.b64encode(
                np.asarray(sentences.vectors, dtype=np.float16).tobytes()).decode("ascii")
    return meta


def _sentences_from(meta: dict[str, Any]) -> SentenceVectors | None:
    spans = [(int(a), int(b)) for a, b in json.loads(str(meta.get("sentence_spans") or "[]"))]
    if not spans:
        return None
    vectors = np.frombuffer(base64.b64decode(str(meta["sentence_vectors"])), dtype=np.float16).astype(np.float32)
    return SentenceVectors(spans, vectors.reshape(len(spans), -1))


def writer_id() -> str:
    """Who holds a lease: host, pid and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _holder_is_dead(holder: str) -> bool:
    """Whether a lease holder on this host has exited (a killed `rag index`): its lease need not be waited out."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class ServerRecords:
    """The articles and state collections of one index in a Chroma server (the passages are the VectorStore's)."""

    def __init__(self, settings: Settings, store: VectorStore) -> None:
        self.settings = settings
        self.store = store
        self.location = f"{settings.chroma_url} (collection {settings.collection})"
        with store.reading():
            self._articles = store.client.get_or_create_collection(f"{settings.collection}-articles",
                                                                    embedding_function=None)
            self._state = store.client.get_or_create_collection(f"{settings.collection}-state",
                                                                 embedding_function=None)

    # --- the state record ------------------------------------------------------------
    def state(self) -> ServerState | None:
        """The state record, or None before the first write."""
        with self.store.reading():
            got = self._state.get(ids=[_STATE_ID], include=["metadatas"])
        if not got["ids"]:
            return None
        meta = (got["metadatas"] or [{}])[0] or {}
        return ServerState(
            generation=int(meta.get("generation", 0) or 0),
            epoch=str(meta.get("epoch", "")),
            fingerprint=str(meta["fingerprint"]) if meta.get("fingerprint") else None,
            dirty=meta.get("dirty") == "1",
            last_indexed=float(meta["last_indexed"]) if meta.get("last_indexed") else None,
            lease=str(meta.get("lease", "")),
            lease_until=float(meta.get("lease_until", 0.0) or 0.0),
        )

    def _update_state(self, **values: Any) -> None:
        """Set some fields of the state record (Chroma merges them into the others), creating it if needed."""
        with self.store.reading():
            if not self._state.get(ids=[_STATE_ID], include=[])["ids"]:
                self._state.upsert(ids=[_STATE_ID], embeddings=[_UNIT],  # type: ignore[arg-type]
                                   metadatas=[{"epoch": uuid.uuid4().hex, "generation": 0, "dirty": "0"}])
            self._state.update(ids=[_STATE_ID], metadatas=[values])

    def check_fingerprint(self, fingerprint: str) -> None:
        state = self.state()
        if state is not None and state.fingerprint is not None and state.fingerprint != fingerprint:
            raise IndexMismatchError(
                f"The index in {self.location} was built with other embedding/chunking settings "
                f"({state.fingerprint} != {fingerprint}): run `rag index --rebuild`."
            )

    def set_dirty(self, dirty: bool, fingerprint: str) -> None:
        self._update_state(dirty="1" if dirty else "0", fingerprint=fingerprint)

    def bump(self) -> None:
        """Tell every replica that the index changed."""
        self._update_state(generation=time.time_ns(), last_indexed=time.time())

    def new_epoch(self) -> None:
        """The index was wiped: every replica's cache starts over."""
        self._update_state(epoch=uuid.uuid4().hex, generation=time.time_ns(), dirty="0")

    # --- the writers' lease ----------------------------------------------------------------
    @contextmanager
    def lease(self, holder: str, wait_seconds: float = 600.0) -> Iterator[None]:
        """Hold the index for writing: one writer at a time across every process and host.

        Chroma has no compare-and-set, so a free (or expired, or dead) lease is written, and
        held if it is still ours after ``_SETTLE_SECONDS``: two writers that both saw it
        free both write, and the later write wins for both of them.
        """
        deadline = time.monotonic() + wait_seconds
        waiting_logged = False
        while True:
            state = self.state()
            now = time.time()
            if (state is None or not state.lease or state.lease == holder or state.lease_until < now
                    or _holder_is_dead(state.lease)):
                self._update_state(lease=holder, lease_until=now + LEASE_SECONDS)
                time.sleep(_SETTLE_SECONDS)
                held = self.state()
                if held is not None and held.lease == holder:
                    break
            elif time.monotonic() > deadline:
                raise RagError(
                    f"Another indexing run ({state.lease}) is writing the index in {self.location}: "
                    "try again when it has finished (a killed run's lease expires within "
                    f"{LEASE_SECONDS:.0f} s)."
                )
            elif not waiting_logged:
                log.warning("waiting for another indexing run (%s) to finish", state.lease)
                waiting_logged = True
            time.sleep(0.5)
        try:
            yield
        finally:
            current = self.state()
            if current is not None and current.lease == holder:
                self._update_state(lease="", lease_until=0.0)

    def renew(self, holder: str) -> None:
        """Extend the lease (after each group of articles); raise if another writer took it over."""
        state = self.state()
        if state is None or state.lease != holder:
            raise RagError(f"This indexing run lost its lease on {self.location} (taken by "
                           f"{state.lease if state else 'nobody'}): run `rag index` again.")
        self._update_state(lease_until=time.time() + LEASE_SECONDS)

    # --- articles ----------------------------------------------------------------------------
    def put_articles(self, entries: Sequence[tuple[Article, int]]) -> None:
        """Commit articles (with their passage counts): their passages must already be in the store."""
        if not entries:
            return
        now = time.time()
        with self.store.reading():
            self._articles.upsert(
                ids=[article.id for article, _ in entries],
                embeddings=[_UNIT] * len(entries),  # type: ignore[arg-type]
                documents=[article.text for article, _ in entries],
                metadatas=[_article_metadata(article, count, now) for article, count in entries],
            )

    def delete_articles(self, ids: Sequence[str]) -> None:
        if ids:
            with self.store.reading():
                self._articles.delete(ids=list(ids))

    def manifest(self) -> dict[str, tuple[str, str, int]]:
        """article id -> (source, content hash, passages) of every committed article."""
        found: dict[str, tuple[str, str, int]] = {}
        offset = 0
        while True:
            with self.store.reading():
                got = self._articles.get(include=["metadatas"], limit=_PAGE, offset=offset)
            for aid, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
                meta = meta or {}
                found[aid] = (str(meta["source"]), str(meta["content_hash"]), int(meta.get("passages", 0) or 0))
            if len(got["ids"]) < _PAGE:
                return found
            offset += _PAGE

    def fetch(self, ids: Sequence[str]) -> tuple[list[tuple[Article, list[Passage], dict[str, SentenceVectors]]], int]:
        """The committed articles among ids with their passages and sentence vectors, and how many articles
        were left out because they changed while being read (the next sync takes them)."""
        with self.store.reading():
            got = self._articles.get(ids=list(ids), include=["metadatas", "documents"])
        articles: dict[str, tuple[Article, int]] = {}
        for aid, meta, text in zip(got["ids"], got["metadatas"] or [], got["documents"] or [], strict=True):
            articles[aid] = _article_from(aid, meta or {}, text or "")
        passages: dict[str, list[tuple[Passage, SentenceVectors | None]]] = {aid: [] for aid in articles}
        with self.store.reading():
            rows = self.store.collection.get(where={"article_id": {"$in": list(articles)}},
                                             include=["metadatas", "documents"]) if articles else None
        for pid, meta, text in zip(rows["ids"] if rows else [], (rows or {}).get("metadatas") or [],
                                   (rows or {}).get("documents") or [], strict=True):
            meta = meta or {}
            article, _ = articles[str(meta["article_id"])]
            if meta.get("content_hash") != article.content_hash:
                continue  # another version's passage: replaced, or written before a crash
            passage = Passage(id=pid, article_id=article.id, ordinal=int(meta["ordinal"]), text=text or "",
                              start=int(meta["start"]), end=int(meta["end"]))
            passages[article.id].append((passage, _sentences_from(meta)))
        entries = []
        skipped = 0
        for aid, (article, count) in articles.items():
            found = sorted(passages[aid], key=lambda pair: pair[0].ordinal)
            if len(found) != count:  # replaced or removed while this was read
                skipped += 1
                continue
            entries.append((article, [p for p, _ in found], {p.id: s for p, s in found if s is not None}))
        return entries, skipped + len(set(ids) - set(articles))

    def drop(self) -> None:
        """Delete the articles (the passages go with the store's collection); a new epoch tells the caches."""
        with self.store.reading():
            self.store.client.delete_collection(f"{self.settings.collection}-articles")
            self._articles = self.store.client.get_or_create_collection(f"{self.settings.collection}-articles",
                                                                        embedding_function=None)
        self.new_epoch()


def _article_metadata(article: Article, passages: int, now: float) -> dict[str, Any]:
    meta: dict[str, Any] = {"source": article.source, "title": article.title, "content_hash": article.content_hash,
                            "passages": passages, "indexed_at": now}
    meta.update({key: value for key, value in
                 (("publisher", article.publisher), ("date", article.date), ("url", article.url)) if value is not None})
    return meta


def _article_from(aid: str, meta: dict[str, Any], text: str) -> tuple[Article, int]:
    def optional(key: str) -> str | None:
        return str(meta[key]) if meta.get(key) is not None else None

    article = Article(id=aid, source=str(meta["source"]), title=str(meta["title"]), publisher=optional("publisher"),
                      date=optional("date"), url=optional("url"), text=text, content_hash=str(meta["content_hash"]))
    return article, int(meta.get("passages", 0) or 0)


def check_cache(catalog: Catalog, settings: Settings) -> None:
    """Make sure the local catalog is a cache of this server's index: mark a new one, empty one that cached
    another server or collection, and refuse an embedded index, whose articles exist nowhere else."""
    mark = f"{settings.chroma_url} {settings.collection}"
    current = catalog.get_meta("cache_of")
    if current == mark:
        return
    held = catalog.manifest()
    if current is None and held:
        raise RagError(
            f"{settings.index_dir} holds an index of its own ({len(held)} articles), and RAG_CHROMA_URL is set: "
            "with a Chroma server the index folder is only a cache of the server's index. Point RAG_INDEX_DIR at "
            "an empty folder and run `rag index` to write the corpus into the server, or unset RAG_CHROMA_URL."
        )
    catalog.remove_articles([aid for aid, _ in held.values()])
    catalog.set_meta(cache_of=mark, server_epoch="")


def sync_cache(catalog: Catalog, records: ServerRecords) -> bool:
    """Make the local catalog hold what the server holds, copying only the articles that changed.

    The server's generation is read first and stamped on the cache last, and only when every
    article was read whole: anything written meanwhile changes the generation again, so the
    next sync takes it. Returns whether the cache now matches that generation.
    """
    state = records.state()
    if state is None or catalog.get_meta("server_epoch") not in (None, state.epoch):
        # Nothing in the server (yet, or any more), or wiped there (`rag index --rebuild`): start over.
        catalog.remove_articles([aid for aid, _ in catalog.manifest().values()])
        if state is None:
            return True
    remote = records.manifest()
    local = {aid: content_hash for aid, content_hash in catalog.manifest().values()}
    gone = [aid for aid in local if aid not in remote]
    stale = [aid for aid, (_, content_hash, _) in remote.items() if local.get(aid) != content_hash]
    whole = True
    for start in range(0, len(stale), _FETCH_ARTICLES):
        entries, skipped = records.fetch(stale[start : start + _FETCH_ARTICLES])
        catalog.replace_articles(entries)
        whole = whole and not skipped
    catalog.remove_articles(gone)
    # A page of records read while a writer added or deleted some may have skipped one: every write moves the
    # generation, so a moved generation means "read again next time".
    whole = whole and (records.state() or state).generation == state.generation
    if whole:
        stamp: dict[str, object] = {"generation": state.generation, "server_epoch": state.epoch,
                                    "last_indexed": str(state.last_indexed or ""), "dirty": "1" if state.dirty else "0"}
        if state.fingerprint:
            stamp["fingerprint"] = state.fingerprint
        catalog.set_meta(**stamp)
    if stale or gone:
        log.info("index cache: %d articles copied from the server, %d removed", len(stale), len(gone))
    return whole
