"""The catalog: the index's source of truth, in SQLite.

It holds every indexed article (cleaned text and metadata), its passages and the
manifest of content hashes. Each article is replaced in one transaction, so the
catalog is never half-written. Chroma and BM25 are derived from it: a vector whose
id is not in the catalog is an orphan and is ignored and swept (see indexer).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError, IndexReadOnlyError
from rag.types import Article, Passage, SentenceVectors, StoredPassage

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    publisher TEXT,
    date TEXT,
    url TEXT,
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    indexed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_hash ON articles(content_hash);
CREATE TABLE IF NOT EXISTS passages (
    id TEXT PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_id);
CREATE TABLE IF NOT EXISTS sentences (
    passage_id TEXT PRIMARY KEY REFERENCES passages(id) ON DELETE CASCADE,
    spans TEXT NOT NULL,
    vectors BLOB NOT NULL
);
"""

_PASSAGE_COLUMNS = (
    "p.id, p.article_id, p.ordinal, p.start, p.\"end\", p.text, a.source, a.title, a.publisher, a.date"
)

# How many times this process deleted each index folder's catalog (`rag index --rebuild`,
# a wipe from the app): searches opened before a wipe hold a deleted file, so the
# query side keys its cache on this number instead of being told to forget.
_WIPES: dict[str, int] = {}
_PROCESS_LOCK = threading.Lock()  # guards _WIPES and _WRITTEN


# The last generation this process wrote to each index folder: a generation other than this one was
# written by another process (whose vectors this process's open Chroma store has not seen).
_WRITTEN: dict[str, int] = {}


def written_here(index_dir: Path) -> int | None:
    """The generation of this process's last write to the index at ``index_dir`` (None: it wrote none)."""
    return _WRITTEN.get(str(Path(index_dir).resolve()))


def wipe_count(index_dir: Path) -> int:
    """How many times this process has wiped the index at ``index_dir``."""
    return _WIPES.get(str(Path(index_dir).resolve()), 0)


def delete_catalog(index_dir: Path) -> None:
    """Delete the catalog file (and its journal), counting the wipe for :func:`wipe_count`."""
    for name in (CATALOG_FILE, f"{CATALOG_FILE}-journal"):
        (index_dir / name).unlink(missing_ok=True)
    with _PROCESS_LOCK:
        key = str(Path(index_dir).resolve())
        _WIPES[key] = _WIPES.get(key, 0) + 1


class Catalog:
    """SQLite-backed catalog of articles and passages. Safe to share across threads."""

    def __init__(self, index_dir: Path, *, create: bool = False) -> None:
        self.path = Path(index_dir) / CATALOG_FILE
        if not self.path.exists():
            if not create:
                raise IndexMissingError(f"No index at {index_dir}: run `rag index` first.")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._sentences_table = False  # checked on first use; once there, it stays
        try:
            if create:
                self._connection().executescript(_SCHEMA)  # idempotent DDL; executescript commits itself
            else:  # read-only use must work on a read-only folder: no writes here
                self._connection().execute("SELECT 1 FROM articles, passages, meta LIMIT 1").fetchall()
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc) or "read-only" in str(exc):
                raise IndexReadOnlyError(self.path.parent, "the catalog cannot be updated") from exc
            raise IndexCorruptError(
                f"The index catalog {self.path} cannot be read ({exc}): run `rag index --rebuild`."
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(
                f"The index catalog {self.path} cannot be read ({exc}): run `rag index --rebuild`."
            ) from exc

    # --- connection handling ----------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA synchronous = FULL")
            self._local.db = db
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[object] = ()) -> list[tuple]:
        try:
            return self._connection().execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(
                f"The index catalog {self.path} cannot be read ({exc}): run `rag index --rebuild`."
            ) from exc

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # --- metadata ----------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, **values: object) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [(key, json.dumps(value) if not isinstance(value, str) else value) for key, value in values.items()],
            )

    def check_fingerprint(self, fingerprint: str) -> None:
        """Raise if the index was built with settings that shape passages or vectors differently."""
        stored = self.get_meta("fingerprint")
        if stored is not None and stored != fingerprint:
            raise IndexMismatchError(
                f"The index at {self.path.parent} was built with other embedding/chunking settings "
                f"({stored} != {fingerprint}): run `rag index --rebuild`."
            )

    @property
    def generation(self) -> int:
        """Bumped on every change, so derived indexes can tell they are stale."""
        return int(self.get_meta("generation") or 0)

    # --- writes ------------------------------------------------------------
    def replace_article(
        self, article: Article, passages: list[Passage], sentences: Mapping[str, SentenceVectors] | None = None
    ) -> None:
        """Store an article, its passages and their sentence vectors, replacing any previous version, atomically."""
        self.replace_articles([(article, passages, sentences)])

    def replace_articles(
        self, entries: Sequence[tuple[Article, list[Passage], Mapping[str, SentenceVectors] | None]]
    ) -> None:
        """Store several articles (see :meth:`replace_article`) in one transaction: all or none.

        Sentence vectors are stored as float16 (half the space; re-ranking cosines
        move by < 0.001).
        """
        if not entries:
            return
        now = time.time()
        with self._transaction() as db:
            for article, passages, sentences in entries:
                db.execute("DELETE FROM articles WHERE id = ? OR source = ?", (article.id, article.source))
                db.execute(
                    "INSERT INTO articles(id, source, title, publisher, date, url, text, content_hash, indexed_at)"
                    " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (article.id, article.source, article.title, article.publisher, article.date, article.url,
                     article.text, article.content_hash, now),
                )
                db.executemany(
                    'INSERT INTO passages(id, article_id, ordinal, start, "end", text) VALUES(?, ?, ?, ?, ?, ?)',
                    [(p.id, p.article_id, p.ordinal, p.start, p.end, p.text) for p in passages],
                )
                if sentences:
                    db.executemany(
                        "INSERT INTO sentences(passage_id, spans, vectors) VALUES(?, ?, ?)",
                        [
                            (pid, json.dumps(sv.spans), np.asarray(sv.vectors, dtype=np.float16).tobytes())
                            for pid, sv in sentences.items()
                        ],
                    )
            self._bump(db)

    def remove_article(self, article_id: str) -> None:
        self.remove_articles([article_id])

    def remove_articles(self, article_ids: Sequence[str]) -> None:
        """Remove articles (their passages and sentence vectors go with them), in one transaction."""
        if not article_ids:
            return
        with self._transaction() as db:
            db.executemany("DELETE FROM articles WHERE id = ?", [(aid,) for aid in article_ids])
            self._bump(db)

    def _bump(self, db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO meta(key, value) VALUES('generation', '1') ON CONFLICT(key) DO UPDATE"
            " SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
        )
        (generation,) = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        with _PROCESS_LOCK:
            _WRITTEN[str(self.path.parent.resolve())] = int(generation)
        db.execute(
            "INSERT INTO meta(key, value) VALUES('last_indexed', ?) ON CONFLICT(key) DO UPDATE"
            " SET value = excluded.value",
            (str(time.time()),),
        )

    # --- reads -------------------------------------------------------------
    def manifest(self) -> dict[str, tuple[str, str]]:
        """source -> (article id, content hash) for every indexed article."""
        return {source: (aid, h) for aid, source, h in self._query("SELECT id, source, content_hash FROM articles")}

    def passage_ids_of(self, article_ids: Sequence[str]) -> list[str]:
        """The passage ids of these articles."""
        return [row[0] for row in self._rows_in("SELECT id FROM passages WHERE article_id IN ({marks})", article_ids)]

    def passage_ids(self) -> set[str]:
        return {row[0] for row in self._query("SELECT id FROM passages")}

    def iter_passage_texts(self) -> Iterator[tuple[str, str]]:
        """(passage id, text) in a stable order, for building the lexical index."""
        for pid, text in self._query("SELECT id, text FROM passages ORDER BY id"):
            yield pid, text

    def get_passages(self, ids: Iterable[str]) -> dict[str, StoredPassage]:
        """The stored passages among ids (unknown ids, e.g. orphans, are left out)."""
        rows = self._rows_in(
            f"SELECT {_PASSAGE_COLUMNS} FROM passages p JOIN articles a ON a.id = p.article_id WHERE p.id IN ({{marks}})",
            ids,
        )
        return {row[0]: _stored_passage(row) for row in rows}

    def sentence_vectors(self, ids: Iterable[str]) -> dict[str, SentenceVectors]:
        """Stored sentence vectors of the passages among ids (none for indexes built before they were stored)."""
        if not self._has_sentences():
            return {}
        found: dict[str, SentenceVectors] = {}
        for pid, spans, blob in self._rows_in(
            "SELECT passage_id, spans, vectors FROM sentences WHERE passage_id IN ({marks})", ids
        ):
            pairs = [(int(a), int(b)) for a, b in json.loads(spans)]
            if pairs:  # a passage without sentences is left to be computed by the caller
                vectors = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
                found[pid] = SentenceVectors(pairs, vectors.reshape(len(pairs), -1))
        return found

    def _has_sentences(self) -> bool:
        """Whether the catalog has the sentences table (indexes written before it existed do not)."""
        if not self._sentences_table:
            rows = self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sentences'")
            self._sentences_table = bool(rows)
        return self._sentences_table

    def _rows_in(self, sql: str, ids: Iterable[str]) -> list[tuple]:
        """Rows of ``sql`` whose ``IN ({marks})`` takes ids, queried in chunks under SQLite's variable limit."""
        wanted = list(dict.fromkeys(ids))
        rows: list[tuple] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows += self._query(sql.format(marks=",".join("?" * len(chunk))), chunk)
        return rows

    def passages_of(self, article_id: str) -> list[StoredPassage]:
        rows = self._query(
            f"SELECT {_PASSAGE_COLUMNS} FROM passages p JOIN articles a ON a.id = p.article_id"
            " WHERE p.article_id = ? ORDER BY p.ordinal",
            (article_id,),
        )
        return [_stored_passage(row) for row in rows]

    def get_article(self, article_id: str) -> Article | None:
        rows = self._query(
            "SELECT id, source, title, publisher, date, url, text, content_hash FROM articles WHERE id = ?",
            (article_id,),
        )
        if not rows:
            return None
        aid, source, title, publisher, date, url, text, content_hash = rows[0]
        return Article(
            id=aid, source=source, title=title, publisher=publisher, date=date, url=url, text=text,
            content_hash=content_hash,
        )

    def list_articles(self) -> list[dict[str, object]]:
        """Summary rows for listings: id, source, title, publisher, date, passages, indexed_at."""
        rows = self._query(
            "SELECT a.id, a.source, a.title, a.publisher, a.date, a.indexed_at,"
            " (SELECT COUNT(*) FROM passages p WHERE p.article_id = a.id)"
            " FROM articles a ORDER BY a.source"
        )
        keys = ("id", "source", "title", "publisher", "date", "indexed_at", "passages")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def facet_rows(self) -> tuple[list[tuple[str, str | None, str | None]], list[tuple[str, str]]]:
        """What retrieval filters look at: (id, publisher, date) of every article, by id, and (passage id,
        article id) of every passage."""
        articles = self._query("SELECT id, publisher, date FROM articles ORDER BY id")
        return articles, self._query("SELECT id, article_id FROM passages")

    def counts(self) -> tuple[int, int]:
        """(articles, passages)."""
        articles = self._query("SELECT COUNT(*) FROM articles")[0][0]
        passages = self._query("SELECT COUNT(*) FROM passages")[0][0]
        return int(articles), int(passages)


def _stored_passage(row: tuple) -> StoredPassage:
    pid, article_id, ordinal, start, end, text, source, title, publisher, date = row
    return StoredPassage(
        id=pid, article_id=article_id, ordinal=ordinal, start=start, end=end, text=text,
        source=source, title=title, publisher=publisher, date=date,
    )
