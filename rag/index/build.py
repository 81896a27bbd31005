"""Incremental, idempotent, crash-safe indexing of a corpus folder.

The catalog (SQLite) is the source of truth; Chroma vectors and the BM25 index
are derived from it. For each new or changed article the order of writes is:

1. upsert its new vectors into Chroma (ids carry the content hash, so they never
   collide with the previous version's),
2. replace the article and its passages in the catalog, in one transaction,
3. delete the previous version's vectors.

A kill between any two steps leaves only vectors the catalog does not know
(ignored by retrieval) or catalog passages without vectors. The ``dirty`` flag,
set before the first write and cleared after the last, tells the next run to
reconcile the two by id, which makes the index identical to a clean build.

With a Chroma server (``RAG_CHROMA_URL``) the server is the system of record
(:mod:`rag.index.remote`): the same steps write the article records there too,
between the vectors and the local catalog, which is then only this process's
cache; a writer holds the server's lease for the whole run, and the dirty flag
lives in the server.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from rag.errors import CorpusError, DiskFullError, IndexReadOnlyError, RagError
from rag.index.bm25 import BM25_SUBDIR, LexicalIndex
from rag.index.catalog import Catalog, delete_catalog
from rag.index.remote import ServerRecords, check_cache, passage_metadata, sync_cache, writer_id
from rag.ingest.chunking import chunk_article, split_sentences
from rag.ingest.load import load_article
from rag.ingest.scan import FileProblem, SourceFile, require_corpus_folder, scan_corpus, scan_files
from rag.settings import Settings
from rag.text import first_line
from rag.types import Article, Passage

if TYPE_CHECKING:
    from rag.embeddings import SentenceEmbedder
    from rag.index.vectors import VectorStore

log = logging.getLogger(__name__)

# Passages embedded together: large enough for efficient batches, small enough
# that a crash loses little work.
_GROUP_PASSAGES = 512


@dataclass
class IndexReport:
    """What one indexing run did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: list[FileProblem] = field(default_factory=list)
    passages_embedded: int = 0
    repaired: int = 0
    articles: int = 0
    passages: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.repaired)

    def summary(self) -> str:
        line = (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{self.unchanged} unchanged, {len(self.problems)} problems; "
            f"{self.articles} articles, {self.passages} passages in the index "
            f"({self.passages_embedded} passages embedded in {self.seconds:.1f} s)"
        )
        if self.repaired:
            line += f"; repaired {self.repaired} vectors left by an interrupted run"
        return line


def _check_writable(index_dir: Path) -> None:
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a path under a file, no permission...
        raise RagError(f"Cannot create the index folder {index_dir}: {exc.strerror or exc}.") from exc
    if not os.access(index_dir, os.W_OK):
        raise IndexReadOnlyError(index_dir, "indexing writes the catalog, BM25 files and vectors there")


def wipe_index(settings: Settings) -> None:
    """Delete everything `rag index --rebuild` rebuilds (an embedded index; a server's is wiped under its lease)."""
    index_dir = Path(settings.index_dir)
    delete_catalog(index_dir)
    shutil.rmtree(index_dir / BM25_SUBDIR, ignore_errors=True)
    from rag.index.vectors import drop_vectors

    drop_vectors(settings)


class _Progress:
    """Articles done: a tqdm bar on a terminal, and the caller's callback."""

    def __init__(self, total: int, show: bool, report: Callable[[int, int], None] | None) -> None:
        self.bar = tqdm(total=total, desc="indexing", unit="article", disable=not show or total < 20)
        self.done, self.total, self.report = 0, total, report

    def update(self, n: int) -> None:
        self.bar.update(n)
        self.done += n
        if self.report is not None:
            self.report(self.done, self.total)

    def close(self) -> None:
        self.bar.close()


class Indexer:
    """Brings the index in line with the corpus folder."""

    def __init__(
        self, settings: Settings, *, progress: bool = False, allow_empty: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """``allow_empty``: let a corpus folder without articles remove every indexed one (refused otherwise:
        an unmounted or mistyped folder looks just like that)."""
        self.settings = settings
        self.progress = progress
        self.allow_empty = allow_empty
        self.on_progress = on_progress  # (articles done, articles to do), e.g. for the app's progress bar
        require_corpus_folder(Path(settings.corpus_dir))  # before the catalog is created: a typo creates nothing
        index_dir = Path(settings.index_dir)
        _check_writable(index_dir)
        self.catalog = Catalog(index_dir, create=True)
        self._store: VectorStore | None = None
        self.records: ServerRecords | None = None
        self._holder = writer_id()  # this run, when it holds the server's lease
        if settings.chroma_url:  # the server is the system of record; the catalog is this process's cache of it
            check_cache(self.catalog, settings)
            self.records = ServerRecords(settings, self.store)
            self.records.check_fingerprint(settings.index_fingerprint())
        else:
            self.catalog.check_fingerprint(settings.index_fingerprint())

    # Chroma and torch take seconds to import: a no-op run (nothing changed) needs neither.
    @property
    def store(self) -> VectorStore:
        if self._store is None:
            from rag.index.vectors import VectorStore

            self._store = VectorStore(self.settings, expected_passages=self.catalog.counts()[1])
        return self._store

    @property
    def embedder(self) -> SentenceEmbedder:
        from rag.embeddings import get_embedder

        return get_embedder(self.settings.resolved_embedding_model(), self.settings.embedding_batch_size)

    def run(self, *, wipe: bool = False) -> IndexReport:
        """Bring the index in line with the whole corpus folder (``wipe``: start from nothing, server mode)."""
        return self._guarded(lambda report: self._sync_folder(report, wipe))

    def add(self, sources: Sequence[str] | None = None) -> IndexReport:
        """Index these files of the corpus folder (an upload), or all of them when None, leaving every other
        article as it is: nothing is removed."""
        def work(report: IndexReport) -> None:
            corpus, limit = Path(self.settings.corpus_dir), self.settings.max_file_bytes
            files, problems = scan_corpus(corpus, limit) if sources is None else scan_files(corpus, sources, limit)
            report.problems = list(problems)
            self._index(files, report, others_stay=True)

        return self._guarded(work)

    def remove(self, article_ids: Sequence[str]) -> IndexReport:
        """Take these articles out of the index, whatever the corpus folder holds."""
        def work(report: IndexReport) -> None:
            for source, (article_id, _) in sorted(self.catalog.manifest().items()):
                if article_id in article_ids:
                    self._remove(article_id)
                    report.removed.append(source)

        return self._guarded(work)

    def _guarded(self, work: Callable[[IndexReport], None]) -> IndexReport:
        """Run one change of the index: under the server's lease, between the dirty flag's set and clear,
        with a full disk reported as such."""
        started = time.perf_counter()
        report = IndexReport()
        try:
            with self._writing():
                if self._dirty():
                    report.repaired = self.reconcile()
                self._set_dirty(True)
                work(report)
                if report.changed or self._lexical_stale():
                    self.rebuild_lexical()
                self._set_dirty(False)
        except RagError:
            raise
        except Exception as exc:
            if _disk_full(exc, Path(self.settings.index_dir)):
                raise DiskFullError(
                    f"The disk holding {self.settings.index_dir} is full ({first_line(exc)}): the index keeps "
                    "its last good state; free some space and run `rag index` again, which finishes this run "
                    "(not `--rebuild`, which needs room for a whole new index)."
                ) from exc
            raise
        report.articles, report.passages = self.catalog.counts()
        report.seconds = time.perf_counter() - started
        log.info("index: %s", report.summary())
        return report

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Server mode: hold the server's lease and start from its current state (copied into the cache)."""
        if self.records is None:
            yield
            return
        with self.records.lease(self._holder):
            sync_cache(self.catalog, self.records)  # whole: no other writer runs under the lease
            yield

    def _dirty(self) -> bool:
        if self.records is not None:
            state = self.records.state()
            return state is not None and state.dirty
        return self.catalog.get_meta("dirty") == "1"

    def _set_dirty(self, dirty: bool) -> None:
        fingerprint = self.settings.index_fingerprint()
        if self.records is not None:
            self.records.set_dirty(dirty, fingerprint)
        self.catalog.set_meta(dirty="1" if dirty else "0", fingerprint=fingerprint)

    def _sync_folder(self, report: IndexReport, wipe: bool) -> None:
        if wipe and self.records is not None:
            self.store.recreate()
            self.records.drop()
            shutil.rmtree(Path(self.settings.index_dir) / BM25_SUBDIR, ignore_errors=True)
            sync_cache(self.catalog, self.records)  # the new epoch empties the cache
        files, scan_problems = scan_corpus(Path(self.settings.corpus_dir), self.settings.max_file_bytes)
        report.problems = list(scan_problems)
        indexed = self.catalog.counts()[0]
        if not files and not scan_problems and indexed and not self.allow_empty:
            raise CorpusError(
                f"The corpus folder {self.settings.corpus_dir} holds no articles, but the index holds {indexed}: "
                "nothing was removed (is the folder unmounted or mistyped?). To empty the index, "
                "run `rag index --allow-empty`."
            )
        manifest = self.catalog.manifest()
        indexable = self._index(files, report)
        # Unreadable files keep their last good version; deleted files and files that
        # became duplicates of another article leave the index.
        keep = {f.source for f in indexable} | {p.source for p in scan_problems}
        for source, (article_id, _) in sorted(manifest.items()):
            if source not in keep:
                self._remove(article_id)
                report.removed.append(source)

    def _index(self, files: list[SourceFile], report: IndexReport, *, others_stay: bool = False) -> list[SourceFile]:
        """Index the new and changed files among ``files``; returns those that are not duplicates.
        ``others_stay``: the indexed articles not among ``files`` stay (an upload), so they keep their content."""
        manifest = self.catalog.manifest()
        indexable = self._drop_duplicates(files, manifest, report, others_stay=others_stay)
        todo = [f for f in indexable if manifest.get(f.source, ("", ""))[1] != f.content_hash]
        report.unchanged = len(indexable) - len(todo)
        self._index_files(todo, manifest, report)
        return indexable

    # --- planning ------------------------------------------------------------
    @staticmethod
    def _drop_duplicates(
        files: list[SourceFile], manifest: dict[str, tuple[str, str]], report: IndexReport, *, others_stay: bool
    ) -> list[SourceFile]:
        """One file per content hash: the one already indexed with it, else the first by path. An indexed article
        keeps its hash when its file is unchanged, or (``others_stay``) when its file is not among ``files``."""
        current = {f.source: f.content_hash for f in files}
        owner: dict[str, str] = {}
        for source, (_, content_hash) in sorted(manifest.items()):
            if current.get(source, content_hash if others_stay else None) == content_hash:
                owner.setdefault(content_hash, source)
        for file in files:
            owner.setdefault(file.content_hash, file.source)
        indexable = []
        for file in files:
            if owner[file.content_hash] == file.source:
                indexable.append(file)
            else:
                report.problems.append(FileProblem(file.source, f"duplicate of {owner[file.content_hash]}; skipped"))
        return indexable

    # --- writing -------------------------------------------------------------
    def _index_files(
        self, todo: list[SourceFile], manifest: dict[str, tuple[str, str]], report: IndexReport
    ) -> None:
        group: list[tuple[Article, list[Passage]]] = []
        size = 0
        bar = _Progress(len(todo), self.progress, self.on_progress)
        for file in todo:
            try:
                article = load_article(file, self.settings.max_file_bytes)
            except CorpusError as exc:  # its message starts with the file's name; the report names it already
                report.problems.append(FileProblem(file.source, str(exc).removeprefix(f"{file.source}: ")))
                bar.update(1)
                continue
            passages = chunk_article(article, self.settings.chunk_max_chars, self.settings.chunk_overlap_sentences)
            if len(passages) > self.settings.max_passages_per_article:
                # Bounds the work one file can cause (a 5 MB single line was 7,192 passages and 17 minutes).
                report.problems.append(FileProblem(file.source, (
                    f"too long: {len(passages):,} passages > limit {self.settings.max_passages_per_article:,}; "
                    "split it into articles or raise RAG_MAX_PASSAGES_PER_ARTICLE")))
                bar.update(1)
                continue
            group.append((article, passages))
            size += len(passages)
            if size >= _GROUP_PASSAGES:
                self._write_group(group, manifest, report)
                bar.update(len(group))
                group, size = [], 0
        if group:
            self._write_group(group, manifest, report)
            bar.update(len(group))
        bar.close()

    def _write_group(
        self, group: list[tuple[Article, list[Passage]]], manifest: dict[str, tuple[str, str]], report: IndexReport
    ) -> None:
        """Embed a group of articles and write it: all its vectors, then its catalog rows, then old vectors out.

        One Chroma upsert and one catalog transaction per group, not per article:
        per-article calls cost ~15% of a cold build in Chroma and SQLite overhead.
        """
        texts = [p.text for _, passages in group for p in passages]
        vectors, sentences = self.embedder.encode_passages(texts, [split_sentences(text) for text in texts])
        report.passages_embedded += len(texts)
        passages_in_order = [(article, p) for article, passages in group for p in passages]
        old_ids = self.catalog.passage_ids_of([article.id for article, _ in group])
        full = self.records is not None
        self.store.upsert(
            [p.id for _, p in passages_in_order], vectors, texts,
            [passage_metadata(p, article, s, full=full) for (article, p), s in zip(passages_in_order, sentences, strict=True)],
        )
        if self.records is not None:  # the commit point in the server: every passage is already there
            self.records.put_articles([(article, len(passages)) for article, passages in group])
        entries = []
        offset = 0
        for article, passages in group:
            entries.append((article, passages, dict(zip((p.id for p in passages), sentences[offset : offset + len(passages)]))))
            offset += len(passages)
        self.catalog.replace_articles(entries)
        new_ids = {p.id for _, p in passages_in_order}
        self.store.delete([pid for pid in old_ids if pid not in new_ids])
        self._committed()
        for article, _ in group:
            (report.updated if article.source in manifest else report.added).append(article.source)

    def _committed(self) -> None:
        """Server mode: tell the replicas, and keep the lease."""
        if self.records is not None:
            self.records.bump()
            self.records.renew(self._holder)

    def _remove(self, article_id: str) -> None:
        ids = [p.id for p in self.catalog.passages_of(article_id)]
        if self.records is not None:
            self.records.delete_articles([article_id])
        self.catalog.remove_article(article_id)
        self.store.delete(ids)
        self._committed()

    # --- repair and derived indexes -----------------------------------------
    def reconcile(self) -> int:
        """Make Chroma hold exactly the catalog's passages; returns vectors fixed. In server mode, also drop the
        article records whose passages are incomplete (a rebuild killed between its two deletions): the cache
        sync left them out, so they are re-indexed from the corpus folder, or gone if it no longer has them."""
        if self.records is not None:
            cached = {article_id for article_id, _ in self.catalog.manifest().values()}
            self.records.delete_articles(sorted(set(self.records.manifest()) - cached))
        wanted = self.catalog.passage_ids()
        stored = self.store.all_ids()
        orphans = sorted(stored - wanted)
        missing = sorted(wanted - stored)
        self.store.delete(orphans)
        if missing:
            passages = self.catalog.get_passages(missing)
            ordered = [passages[pid] for pid in missing]
            vectors = self.embedder.encode([p.text for p in ordered])
            sentences = self.catalog.sentence_vectors(missing)
            articles = {aid: self.catalog.get_article(aid) for aid in {p.article_id for p in ordered}}
            self.store.upsert(
                missing, vectors, [p.text for p in ordered],
                [passage_metadata(p, articles[p.article_id], sentences.get(p.id), full=self.records is not None)
                 for p in ordered],  # type: ignore[arg-type]
            )
        if orphans or missing:
            log.warning("reconciled index: %d orphan vectors removed, %d missing vectors added", len(orphans), len(missing))
        return len(orphans) + len(missing)

    def _lexical_stale(self) -> bool:
        saved = LexicalIndex.load(Path(self.settings.index_dir))
        return saved is None or saved.generation != self.catalog.generation

    def rebuild_lexical(self) -> LexicalIndex:
        lexical = LexicalIndex.build(list(self.catalog.iter_passage_texts()), self.catalog.generation)
        lexical.save(Path(self.settings.index_dir))
        return lexical


# Below this much free space, an error from the store is taken for a full disk: Chroma reports one as
# "Error in compaction" without saying why.
_LOW_SPACE_BYTES = 64 * 1024 * 1024
_FULL_MESSAGES = ("no space left", "disk is full", "disk full", "database or disk is full")


def _disk_full(exc: BaseException, index_dir: Path) -> bool:
    """Whether an error while writing the index comes from a full disk."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if any(text in str(seen).lower() for text in _FULL_MESSAGES):
            return True
        seen = seen.__cause__ or seen.__context__
    try:
        return shutil.disk_usage(index_dir).free < _LOW_SPACE_BYTES
    except OSError:
        return False


def _check_room_to_rebuild(index_dir: Path) -> None:
    """A rebuild deletes the index before writing the new one: refuse it when the new one could not fit."""
    used = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()) if index_dir.is_dir() else 0
    try:
        free = shutil.disk_usage(index_dir if index_dir.is_dir() else index_dir.parent).free
    except OSError:
        return
    if used and free + used < used * 2 + _LOW_SPACE_BYTES:
        raise DiskFullError(
            f"Not enough free space to rebuild the index at {index_dir} (it takes {used / 1e6:,.0f} MB, "
            f"{free / 1e6:,.0f} MB are free): nothing was deleted; free some space first."
        )


def build_index(
    settings: Settings | None = None, *, rebuild: bool = False, progress: bool = False, allow_empty: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> IndexReport:
    """Index ``settings.corpus_dir`` into ``settings.index_dir`` (incrementally unless rebuild).

    A corpus folder without articles does not empty a non-empty index unless ``allow_empty``.
    """
    settings = settings or Settings()
    if rebuild and not settings.chroma_url:
        _check_writable(Path(settings.index_dir))
        _check_room_to_rebuild(Path(settings.index_dir))
        wipe_index(settings)
    indexer = Indexer(settings, progress=progress, allow_empty=allow_empty, on_progress=on_progress)
    return indexer.run(wipe=rebuild and bool(settings.chroma_url))


def add_to_index(
    settings: Settings, sources: Sequence[str], on_progress: Callable[[int, int], None] | None = None
) -> IndexReport:
    """Index these files of the corpus folder (uploads) without touching any other article."""
    return Indexer(settings, allow_empty=True, on_progress=on_progress).add(sources)


def remove_from_index(settings: Settings, article_ids: Sequence[str]) -> IndexReport:
    """Take these articles out of the index (their files are the caller's to delete)."""
    return Indexer(settings, allow_empty=True).remove(article_ids)


def ensure_index(settings: Settings, *, progress: bool = False) -> IndexReport | None:
    """Build the index from ``settings.corpus_dir`` when there is none: the report, or None when one existed."""
    from rag.index.handle import Index

    if Index.exists(settings):
        return None
    if settings.chroma_url:
        # Replicas started together against an empty server all find no index: each adds its folder's articles,
        # and none removes what another added (a full sync of one folder would).
        return Indexer(settings, progress=progress, allow_empty=True).add()
    return build_index(settings, progress=progress)
