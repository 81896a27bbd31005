"""Test and benchmark corpora: the shipped seeds and article files made from the shared BBC CSV.

The CSV lives in ``../shared/corpora/`` and is never copied into the repository;
:func:`write_bbc_articles` writes it out as one ``.txt`` file per row wherever
a benchmark needs a corpus folder.
"""

from __future__ import annotations

import csv
import logging
import random
import re
from collections.abc import Collection
from pathlib import Path

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")


def seeds_dir() -> Path:
    """The repository's ``seeds/`` folder (the three shipped articles)."""
    return REPO_ROOT / "seeds"


def bbc_csv_path() -> Path:
    """Where the shared BBC CSV is expected: ``shared/`` beside the repository."""
    return REPO_ROOT.parent / "shared" / "corpora" / "bbc-news-sport-politics.csv"


def write_bbc_articles(
    csv_path: Path, dest: Path, copies: int = 1, limit: int | None = None, rows: Collection[int] | None = None
) -> int:
    """Write each CSV row (``category,text``) as ``dest/bbc/{category}/{i:04d}.txt``; return the file count.

    ``rows`` (0-based row numbers) writes only those rows, under the same names.

    With ``copies > 1`` each row is also written ``copies - 1`` more times as
    ``{i:04d}-copy{k:03d}.txt``, its sentences shuffled (seeded by row and copy,
    so reruns give identical files) under a one-line copy marker: every copy has
    its own content hash and passage boundaries, for benchmarks at 100,000+
    passages without near-identical passages collapsing in deduplication.
    """
    if copies < 1:
        raise ValueError("copies must be at least 1")
    written = 0
    with Path(csv_path).open(newline="", encoding="utf-8") as handle:
        for i, row in enumerate(csv.DictReader(handle)):
            if limit is not None and i >= limit:
                break
            if rows is not None and i not in rows:
                continue
            category = re.sub(r"[^a-z0-9_-]+", "-", row["category"].strip().lower()) or "uncategorised"
            text = row["text"].strip()
            folder = Path(dest) / "bbc" / category
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i:04d}.txt").write_text(text + "\n", encoding="utf-8")
            for k in range(1, copies):
                (folder / f"{i:04d}-copy{k:03d}.txt").write_text(_perturbed(text, i, k) + "\n", encoding="utf-8")
            written += copies
    log.info("wrote %d BBC article files under %s", written, dest)
    return written


def _perturbed(text: str, row: int, copy: int) -> str:
    sentences = _SENTENCE_BREAK.split(text)
    random.Random(f"{row}:{copy}").shuffle(sentences)
    return f"synthetic copy {copy} of bbc article {row:04d}.\n" + " ".join(sentences)
