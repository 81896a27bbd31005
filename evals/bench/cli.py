"""The `rag bench` command (added to rag's command line through the `newsrag.commands` entry point).

Only typer and the standard library are imported here: the benchmark itself
(torch, Chroma, llama.cpp) loads when the command runs, so `rag --help` stays fast.
"""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or None


def bench(
    quick: Annotated[bool, typer.Option("--quick", help="CI run: seeds + 100 BBC articles, 5 questions, baseline on 3, one ingest round, no synthetic sizes, no app.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for bench-<date>.json/.md (default evals/results).")] = None,
    backends: Annotated[str | None, typer.Option("--backends", help="Comma-separated: extractive,local.")] = None,
    sizes: Annotated[str | None, typer.Option("--sizes", help="Comma-separated: seeds,bbc,bbcN,xN (default seeds,bbc,x10,x25).")] = None,
    questions: Annotated[int | None, typer.Option("--questions", min=1, help="Answer only the first N eval questions.")] = None,
    scale_questions: Annotated[int | None, typer.Option("--scale-questions", min=1, help="Local-LLM answers at sizes other than seeds: the first N questions (default 20; retrieval always uses all).")] = None,
    no_baseline: Annotated[bool, typer.Option("--no-baseline", help="Skip the LangChain tutorial baseline.")] = False,
    baseline_sizes: Annotated[str | None, typer.Option("--baseline-sizes", help="Sizes where the baseline answers too (default seeds).")] = None,
    baseline_questions: Annotated[int | None, typer.Option("--baseline-questions", min=1, help="Questions for the side-by-side baseline run (default: as --questions).")] = None,
    verification_questions: Annotated[int | None, typer.Option("--verification-questions", min=0, help="Answerable seed questions answered by the generate strategy with and without the LLM verifier, side by side (default 10, 3 with --quick; 0 skips).")] = None,
    no_ingest: Annotated[bool, typer.Option("--no-ingest", help="Skip the ingest measurements.")] = False,
    rounds: Annotated[int | None, typer.Option("--rounds", min=1, help="Alternating ingest rounds (default 2).")] = None,
    app: Annotated[bool | None, typer.Option("--app/--no-app", help="Measure the app's cold start and memory (default: on, off with --quick).")] = None,
    api: Annotated[bool | None, typer.Option("--api/--no-api", help="Time chain.invoke against POST /v1/chat/completions of the app, side by side (default: on, off with --quick).")] = None,
    scale_out: Annotated[bool, typer.Option("--scale-out", help="Also time retrieval against a `chroma run` server.")] = False,
    profile: Annotated[bool, typer.Option("--profile", help="Also write pyinstrument profiles (profile-*.txt).")] = False,
    cache: Annotated[Path | None, typer.Option("--cache", help="Cache of built indexes (default ~/.cache/newsrag/bench).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")] = False,
) -> None:
    """Benchmark ingest, retrieval and answer latency (with a LangChain baseline); write and print the report."""
    from evals.bench.run import BenchConfig, run_bench, write_results

    if verbose:
        logging.getLogger("evals").setLevel(logging.INFO)
        logging.getLogger().setLevel(logging.INFO)
        for noisy in ("httpx", "httpcore", "chromadb", "bm25s", "sentence_transformers"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    overrides = {
        "sizes": _csv(sizes),
        "backends": _csv(backends),
        "questions": questions,
        "scale_questions": scale_questions,
        "baseline_sizes": _csv(baseline_sizes),
        "baseline_questions": baseline_questions,
        "verification_questions": verification_questions,
        "ingest_rounds": rounds,
        "app": app,
        "api": api,
        "cache": cache,
        "out": out,
        "command": "rag " + " ".join(shlex.quote(arg) for arg in sys.argv[1:]),
    }
    values = {k: v for k, v in overrides.items() if v is not None}
    values.update(baseline=not no_baseline, ingest=not no_ingest, scale_out=scale_out, profile=profile)
    config = BenchConfig.quick_config(**values) if quick else BenchConfig(**values)
    results = run_bench(config)
    json_path, md_path = write_results(results, config.out, quick=config.quick)
    typer.echo(md_path.read_text())
    typer.echo(f"Wrote {json_path} and {md_path}", err=True)


def register(app: typer.Typer) -> None:
    """Add `bench` to rag's command line (the `newsrag.commands` entry point)."""
    app.command(name="bench")(bench)
