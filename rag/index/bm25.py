"""BM25 keyword index over passages (bm25s), persisted next to the catalog.

Rebuilt from the catalog after any change (bm25s indexes ~100k passages in
seconds) and saved atomically; a stamp records the catalog generation it was
built from and the sha256 of every file, so a stale or damaged copy is detected
and rebuilt instead of trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np

from rag.text import fold_accents, stemmer

log = logging.getLogger(__name__)
# bm25s sets its own logger to DEBUG on import and logs every build.
logging.getLogger("bm25s").setLevel(logging.WARNING)

BM25_SUBDIR = "bm25"
_STAMP = "stamp.json"


# Hyphenated compounds stay whole ("op-ed", "by-election", "one-in"): split into
# "op" + "ed" they match nothing useful. Bump LEXICAL_VERSION when tokenising changes.
_TOKEN_PATTERN = r"(?u)\b\w\w*(?:[-‐]\w+)+\b|\b\w\w+\b"
LEXICAL_VERSION = 3  # 3: accents folded ("josé" is "jose")


def _tokenize(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(  # type: ignore[return-value]
        [fold_accents(text) for text in texts], stopwords="en", stemmer=stemmer(), token_pattern=_TOKEN_PATTERN,
        return_ids=False, show_progress=False,
    )


@dataclass(frozen=True)
class LexicalHit:
    passage_id: str
    score: float


class LexicalIndex:
    """A loaded BM25 index and the passage ids of its rows."""

    def __init__(self, model: bm25s.BM25 | None, ids: list[str], generation: int) -> None:
        self._model = model
        self.ids = ids
        self.generation = generation

    @classmethod
    def build(cls, items: list[tuple[str, str]], generation: int) -> LexicalIndex:
        """Index (passage id, text) pairs."""
        ids = [pid for pid, _ in items]
        if not items:
            return cls(None, [], generation)
        model = bm25s.BM25()
        model.index(_tokenize([text for _, text in items]), show_progress=False)
        return cls(model, ids, generation)

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[LexicalHit]:
        """The k best-scoring passages; ``mask`` (a weight per row of :attr:`ids`, 0 or 1) leaves out the rows
        it zeroes, for filters: their score becomes 0 and no hit scores 0."""
        if self._model is None or k <= 0:
            return []
        vocab = self._model.vocab_dict
        tokens = [t for t in _tokenize([query])[0] if t in vocab]
        if not tokens:
            return []
        k = min(k, len(self.ids))
        rows, scores = self._model.retrieve([tokens], k=k, show_progress=False, n_threads=1, weight_mask=mask)
        return [
            LexicalHit(self.ids[int(row)], float(score))
            for row, score in zip(np.asarray(rows)[0], np.asarray(scores)[0], strict=True)
            if score > 0
        ]

    # --- persistence ---------------------------------------------------------
    def save(self, index_dir: Path) -> None:
        """Write to index_dir/bm25 atomically (a temp folder renamed into place)."""
        index_dir = Path(index_dir)
        target = index_dir / BM25_SUBDIR
        staging = Path(tempfile.mkdtemp(prefix=".bm25-", dir=index_dir))
        try:
            if self._model is not None:
                self._model.save(str(staging), show_progress=False)
            files = {f.name: _sha256(f) for f in sorted(staging.iterdir())}
            stamp = {"version": LEXICAL_VERSION, "generation": self.generation, "ids": self.ids, "files": files}
            (staging / _STAMP).write_text(json.dumps(stamp))
            old = None
            if target.exists():
                old = index_dir / f".bm25-old-{os.getpid()}"
                os.replace(target, old)
            os.replace(staging, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    @classmethod
    def load(cls, index_dir: Path) -> LexicalIndex | None:
        """The saved index, or None when absent or unreadable (the caller rebuilds it)."""
        target = Path(index_dir) / BM25_SUBDIR
        try:
            stamp = json.loads((target / _STAMP).read_text())
            if stamp.get("version") != LEXICAL_VERSION:
                raise ValueError(f"built by tokeniser version {stamp.get('version')}")
            ids = list(stamp["ids"])
            generation = int(stamp["generation"])
            for name, digest in stamp.get("files", {}).items():  # stamps before checksums have none
                if _sha256(target / name) != digest:
                    raise ValueError(f"{name} does not match its checksum")
            model = bm25s.BM25.load(str(target), mmap=False, show_progress=False) if ids else None
            if model is not None:
                _check_shape(model, len(ids))
        except Exception as exc:  # damaged files fail in many ways (OSError, ValueError, EOFError...)
            log.info("BM25 index at %s not usable (%s); it will be rebuilt", target, exc)
            return None
        return cls(model, ids, generation)


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _check_shape(model: bm25s.BM25, documents: int) -> None:
    """Raise ValueError unless the sparse score matrix is consistent (garbage would crash or mislead search)."""
    scores = model.scores
    indices, indptr = np.asarray(scores["indices"]), np.asarray(scores["indptr"])
    if (
        int(scores["num_docs"]) != documents
        or len(indptr) == 0
        or int(indptr[0]) != 0
        or int(indptr[-1]) != len(indices)
        or len(np.asarray(scores["data"])) != len(indices)
        or np.any(np.diff(indptr) < 0)
        or (len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= documents))
    ):
        raise ValueError("the score matrix is inconsistent")
