"""Benchmark corpus sizes, their folders and their cached indexes.

Sizes by name:

* ``seeds``   the three shipped articles;
* ``bbc``     the seeds plus the 928 BBC articles (written from the shared CSV);
* ``bbcN``    the seeds plus the first N BBC articles (``bbc100`` for --quick);
* ``xN``      synthetic: the ``bbc`` index with its BBC passages cloned to N times
  the corpus (see :mod:`evals.bench.synthetic`; latency only, never ingest).

Indexes take minutes to build, so each is cached under the cache folder keyed by
size, index fingerprint and a hash of the source data; a ``bench-ready.json``
marker is written last, so an interrupted build is never reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.corpora import bbc_csv_path, seeds_dir, write_bbc_articles
from rag.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path("~/.cache/newsrag/bench").expanduser()
READY = "bench-ready.json"
SYNTHETIC_VERSION = 2  # bump when the cloning recipe changes
INDEX_LAYOUT = 2  # bump when rag's index layout changes (2: sentence vectors stored in the catalog)
_BBC_N = re.compile(r"^bbc(\d+)$")
_MULTIPLE = re.compile(r"^x(\d+)$")


@dataclass(frozen=True)
class SizeSpec:
    """A named corpus size: real articles (limit None = all BBC, 0 = seeds only) or a synthetic multiple."""

    name: str
    bbc_limit: int | None = 0
    multiple: int = 1

    @property
    def synthetic(self) -> bool:
        return self.multiple > 1


def parse_size(name: str) -> SizeSpec:
    name = name.strip().lower()
    if name == "seeds":
        return SizeSpec(name, bbc_limit=0)
    if name == "bbc":
        return SizeSpec(name, bbc_limit=None)
    if match := _BBC_N.match(name):
        return SizeSpec(name, bbc_limit=int(match.group(1)))
    if match := _MULTIPLE.match(name):
        multiple = int(match.group(1))
        if multiple < 2:
            raise ValueError(f"synthetic size {name!r} must be at least x2")
        return SizeSpec(name, bbc_limit=None, multiple=multiple)
    raise ValueError(f"unknown corpus size {name!r}: use seeds, bbc, bbcN or xN")


@dataclass
class PreparedSize:
    """A size ready to query: its settings (corpus + index) and what the index holds."""

    spec: SizeSpec
    settings: Settings
    articles: int
    passages: int
    build_seconds: float | None  # None when it came from the cache
    cached: bool

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "synthetic": self.spec.synthetic,
            "multiple": self.spec.multiple,
            "articles": self.articles,
            "passages": self.passages,
            "index_dir": str(self.settings.index_dir),
            "from_cache": self.cached,
            "build_seconds": self.build_seconds,
        }


def _file_hash(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def data_key(spec: SizeSpec) -> str:
    """Hash of the source data a size is made from (seeds and, when used, the BBC CSV)."""
    parts = [_file_hash([p for p in seeds_dir().iterdir() if p.is_file()])]
    if spec.bbc_limit != 0:
        parts.append(_file_hash([bbc_csv_path()]))
    if spec.synthetic:
        parts.append(f"syn{SYNTHETIC_VERSION}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def bench_settings(corpus_dir: Path, index_dir: Path, **overrides: Any) -> Settings:
    """Settings for a benchmark index: embedded Chroma unless overridden, everything else as configured."""
    values: dict[str, Any] = {"corpus_dir": corpus_dir, "index_dir": index_dir, "chroma_url": None}
    values.update(overrides)
    return Settings(**values)


def corpus_folder(spec: SizeSpec, cache: Path) -> Path:
    """The real articles of a size as files (seeds/ and bbc/ subfolders), written once."""
    limit = "all" if spec.bbc_limit is None else str(spec.bbc_limit)
    folder = cache / f"corpus-{limit}-{data_key(SizeSpec('c', spec.bbc_limit))}"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(seeds_dir(), folder / "seeds")
    if spec.bbc_limit != 0:
        csv = bbc_csv_path()
        if not csv.exists():
            raise FileNotFoundError(f"{csv} not found: the BBC sizes need ../shared/corpora beside the repository")
        write_bbc_articles(csv, folder, limit=spec.bbc_limit)
    marker.write_text("ok\n")
    return folder


def index_folder(spec: SizeSpec, cache: Path, settings_fingerprint: str) -> Path:
    return cache / f"index-{spec.name}-{settings_fingerprint}-{data_key(spec)}-l{INDEX_LAYOUT}"


def _ready(index_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((index_dir / READY).read_text())
    except (OSError, ValueError):
        return None


def _refresh_lexical(index_dir: Path) -> None:
    """Rebuild a cached index's BM25 when rag's tokeniser changed since it was saved.

    Retrieval would otherwise rebuild it in memory on every open (a minute at 100k
    passages, outside the timings but on every run).
    """
    from rag.index.bm25 import LexicalIndex
    from rag.index.catalog import Catalog

    saved = LexicalIndex.load(index_dir)
    catalog = Catalog(index_dir)
    if saved is None or saved.generation != catalog.generation:
        log.info("refreshing the BM25 index of %s", index_dir.name)
        LexicalIndex.build(list(catalog.iter_passage_texts()), catalog.generation).save(index_dir)
    catalog.close()


def prepare_size(name: str, cache: Path = DEFAULT_CACHE, *, progress: bool = False) -> PreparedSize:
    """The size's index, from the cache or built now (real sizes with the indexer, xN by cloning ``bbc``)."""
    spec = parse_size(name)
    cache = Path(cache).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    corpus = corpus_folder(spec, cache)
    fingerprint = bench_settings(corpus, cache).index_fingerprint()
    index_dir = index_folder(spec, cache, fingerprint)
    settings = bench_settings(corpus, index_dir)
    ready = _ready(index_dir)
    if ready is not None:
        _refresh_lexical(index_dir)
        return PreparedSize(spec, settings, ready["articles"], ready["passages"], None, True)

    shutil.rmtree(index_dir, ignore_errors=True)
    started = time.perf_counter()
    if spec.synthetic:
        from evals.bench.synthetic import build_synthetic

        source = prepare_size("bbc", cache, progress=progress)
        result = build_synthetic(source.settings, settings, spec.multiple)
        articles, passages = result.articles, result.passages
    else:
        from rag.index.build import build_index

        log.info("building the %s index (%s)", spec.name, index_dir)
        report = build_index(settings, progress=progress)
        articles, passages = report.articles, report.passages
    seconds = time.perf_counter() - started
    (index_dir / READY).write_text(
        json.dumps({"articles": articles, "passages": passages, "build_seconds": seconds, "size": spec.name})
    )
    return PreparedSize(spec, settings, articles, passages, seconds, False)
