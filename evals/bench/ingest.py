"""Ingest throughput: our cold build vs the embedder's raw speed vs the baseline's ingest.

Run in a fresh subprocess (``python -m evals.bench.ingest``) so that peak RSS is
that of ingesting alone, not of a process that also holds the LLM. In each round
the three are measured back to back, in alternating order, on the same machine
state: the embedder alone on exactly our passages (one ``encode`` call with the
configured batch size), our ``build_index`` into a fresh folder, and the
baseline's split + ``Chroma.from_documents``. Then the no-op re-index of the
last build is timed in-process and as the ``rag index`` command.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from evals.bench.stats import load_average, ratio, sample_rss, summarize

log = logging.getLogger(__name__)


def _passage_texts(corpus: Path, settings: Any) -> tuple[list[str], int, float]:
    """Our passages' texts (as the indexer makes them), the article count, and the seconds it took."""
    from rag.ingest.chunking import chunk_article
    from rag.ingest.load import load_article
    from rag.ingest.scan import scan_corpus

    started = time.perf_counter()
    files, _ = scan_corpus(corpus, settings.max_file_bytes)
    texts: list[str] = []
    for file in files:
        article = load_article(file)
        texts.extend(p.text for p in chunk_article(article, settings.chunk_max_chars, settings.chunk_overlap_sentences))
    return texts, len(files), time.perf_counter() - started


def measure_ingest(
    corpus: Path, work: Path, rounds: int = 2, baseline: bool = True, noop_cli: bool = True
) -> dict[str, Any]:
    """Alternating rounds of raw embedding, our cold build and the baseline ingest; then no-op re-index."""
    from rag.embeddings import get_embedder
    from rag.index.build import build_index
    from rag.settings import Settings

    work.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    base = Settings(corpus_dir=corpus, index_dir=work / "unused", chroma_url=None)
    embedder = get_embedder(base.resolved_embedding_model(), base.embedding_batch_size)
    started = time.perf_counter()
    embedder.encode(["warm up the model"])
    model_load = time.perf_counter() - started

    texts, articles, chunk_seconds = _passage_texts(corpus, base)
    embedder.encode(texts[:64], progress=False)  # first batches are slower (allocations)

    raw_s: list[float] = []
    ours_s: list[float] = []
    base_s: list[float] = []
    ours_rows: list[dict[str, Any]] = []
    base_rows: list[dict[str, Any]] = []
    peak_ours = 0
    peak_base = 0
    last_settings = base
    for r in range(rounds):
        order = ["raw", "ours", "baseline"] if r % 2 == 0 else ["baseline", "ours", "raw"]
        for step in order:
            if step == "raw":
                t = time.perf_counter()
                embedder.encode(texts, progress=False)
                raw_s.append(time.perf_counter() - t)
            elif step == "ours":
                settings = base.model_copy(update={"index_dir": work / f"ours-{r}"})
                with sample_rss() as peak:
                    report = build_index(settings)
                peak_ours = max(peak_ours, peak.peak)
                ours_s.append(report.seconds)
                ours_rows.append({"seconds": report.seconds, "articles": report.articles,
                                  "passages_embedded": report.passages_embedded})
                last_settings = settings
            elif baseline:
                from evals.bench.baseline import ingest_baseline

                with sample_rss() as peak:
                    result = ingest_baseline(corpus, work / f"baseline-{r}", embedder)
                peak_base = max(peak_base, peak.peak)
                base_s.append(result.seconds)
                base_rows.append({"seconds": result.seconds, "documents": result.documents, "chunks": result.chunks})

    noop = []
    for _ in range(3):
        report = build_index(last_settings)
        assert not report.changed, "a no-op re-index changed the index"
        noop.append(report.seconds)
    noop_cli_s = _noop_cli(last_settings, repeats=2) if noop_cli else []

    raw_med = summarize(raw_s)["median"]
    ours_med = summarize(ours_s)["median"]
    base_med = summarize(base_s)["median"]
    passages = len(texts)
    return {
        "corpus": str(corpus),
        "articles": articles,
        "passages": passages,
        "rounds": rounds,
        "batch_size": base.embedding_batch_size,
        "torch_threads": _torch_threads(),
        "model_load_seconds": model_load,
        "chunking_seconds": chunk_seconds,
        "raw_embed_seconds": summarize(raw_s),
        "raw_passages_per_s": passages / raw_med if raw_med else None,
        "cold_build_seconds": summarize(ours_s),
        "cold_builds": ours_rows,
        "cold_articles_per_s": articles / ours_med if ours_med else None,
        "cold_passages_per_s": passages / ours_med if ours_med else None,
        # per-round ratio, then the median: both figures of a round share the machine's state
        "ingest_pct_of_raw": 100 * (summarize([ratio(a, b) for a, b in zip(raw_s, ours_s, strict=False)])["median"] or 0),
        "baseline_seconds": summarize(base_s),
        "baseline_ingests": base_rows,
        "baseline_chunks": base_rows[0]["chunks"] if base_rows else None,
        "baseline_chunks_per_s": (base_rows[0]["chunks"] / base_med) if base_rows and base_med else None,
        "ours_over_baseline_time": (
            summarize([ratio(a, b) for a, b in zip(ours_s, base_s, strict=False)])["median"] if base_s else None
        ),
        "noop_seconds": summarize(noop),
        "noop_cli_seconds": summarize(noop_cli_s),
        "peak_rss_bytes": {
            "cold_build": peak_ours,
            "baseline_ingest": peak_base or None,
            "process_max": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        },
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }


def _torch_threads() -> int | None:
    try:
        import torch

        return int(torch.get_num_threads())
    except ImportError:  # pragma: no cover
        return None


def _noop_cli(settings: Any, repeats: int) -> list[float]:
    """Wall time of ``rag index`` on an up-to-date index, as a user sees it (imports included)."""
    rag = Path(sys.executable).parent / "rag"
    if not rag.exists():
        return []
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_MODEL_CACHE"}
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(
            [str(rag), "index", "--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)],
            env=env, capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            log.warning("rag index failed: %s", done.stderr[-500:])
            return []
        times.append(time.perf_counter() - started)
    return times


def run_in_subprocess(
    corpus: Path, work: Path, rounds: int, baseline: bool, *, noop_cli: bool = True, timeout: float = 7200
) -> dict[str, Any]:
    """Run :func:`measure_ingest` in a fresh interpreter and return its JSON result."""
    out = work / "ingest.json"
    work.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "evals.bench.ingest", "--corpus", str(corpus), "--work", str(work),
           "--rounds", str(rounds), "--json", str(out)]
    if not baseline:
        cmd.append("--no-baseline")
    if not noop_cli:
        cmd.append("--no-cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_MODEL_CACHE"}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ingest benchmark failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.bench.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="scratch folder for the indexes (emptied)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-cli", action="store_true", help="skip timing `rag index` as a command")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for stale in [*args.work.glob("ours-*"), *args.work.glob("baseline-*")]:
        shutil.rmtree(stale, ignore_errors=True)
    result = measure_ingest(args.corpus, args.work, args.rounds, not args.no_baseline, not args.no_cli)
    args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
