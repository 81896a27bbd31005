"""`rag bench`: ingest, retrieval and answer latency at several corpus sizes, beside a baseline.

:func:`run_bench` measures what :class:`BenchConfig` asks for and returns one
JSON-ready dict (every raw figure); :func:`write_results` saves it as
``bench-<date>.json`` and renders ``bench-<date>.md``. The order matters on a
2-core machine: ingest runs first in its own process (clean peak RSS, nothing
else of ours loaded), then retrieval and answers in this process with one
shared embedder and one loaded LLM, then the app in its own process.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evals.bench.corpus import DEFAULT_CACHE, PreparedSize, bench_settings, data_key, parse_size, prepare_size
from evals.bench.machine import machine_info
from evals.bench.report import evaluate_goals, render_markdown
from evals.bench.stats import load_average, ratio, summarize
from evals.quality.dataset import QUESTIONS_PATH, EvalQuestion, load_questions

log = logging.getLogger(__name__)

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "results"
FULL_SIZES = ("seeds", "bbc", "x10", "x25")
QUICK_SIZES = ("seeds", "bbc100")
QUALITY_METHOD = (
    "the eval suite's scorer (evals.quality.runner.score_correctness: key-fact recall with its 80 % word rule, MiniLM "
    "similarity to the reference, correctness = their mean) applied alike to both pipelines; refusals from "
    "Answer.refused for ours and a \"don't know\" regex for the baseline (evals/bench/quality.py)"
)


@dataclass
class BenchConfig:
    """What to measure. The defaults are the full run; :meth:`quick` is the CI run."""

    sizes: list[str] = field(default_factory=lambda: list(FULL_SIZES))
    backends: list[str] = field(default_factory=lambda: ["extractive", "local"])
    questions: int | None = None  # answers: the first N eval questions (None = all)
    scale_questions: int | None = 20  # local-LLM answers beyond the seeds: the first N (they cost ~10 s each)
    baseline: bool = True
    baseline_sizes: list[str] = field(default_factory=lambda: ["seeds"])
    baseline_questions: int | None = None
    verification_questions: int = 10  # generate with and without the LLM verifier, side by side (0 = skip)
    ingest: bool = True
    ingest_rounds: int = 2
    noop_cli: bool = True  # also time `rag index` on the built index as a command (imports included)
    retrieval_questions: int | None = None  # None = all eval questions
    app: bool = True
    app_questions: int = 3
    api: bool = True  # chain.invoke vs POST /v1/chat/completions, side by side
    api_questions: int = 10
    scale_out: bool = False
    profile: bool = False
    quick: bool = False
    cache: Path = DEFAULT_CACHE
    out: Path = DEFAULT_OUT
    command: str = "rag bench"

    @classmethod
    def quick_config(cls, **overrides: Any) -> BenchConfig:
        values: dict[str, Any] = {
            "sizes": list(QUICK_SIZES), "questions": 5, "baseline_questions": 3, "verification_questions": 3,
            "ingest_rounds": 1, "app": False, "api": False,
            "quick": True,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _questions(limit: int | None) -> list[EvalQuestion]:
    questions = load_questions(QUESTIONS_PATH)
    return questions[:limit] if limit else questions


def _notes(config: BenchConfig, prepared: dict[str, PreparedSize]) -> list[str]:
    notes = [
        "Medians and p95 over the eval questions (evals/datasets/seeds.jsonl); timings on a shared 2-core machine "
        "are noisy, so comparisons are ratios measured side by side in this run.",
    ]
    if any(p.spec.synthetic for p in prepared.values()):
        notes.append(
            "Synthetic sizes (xN) are NOT ingested: the real seeds+BBC index is copied and each BBC article cloned "
            "N-1 times (new ids, each passage's sentences shuffled, vector = original + Gaussian noise, re-normalised, "
            "cosine ~0.90 to the original) and written through Catalog.replace_article, VectorStore.upsert and "
            "LexicalIndex.build. They measure retrieval and answer latency at scale only; never ingest or quality."
        )
    if config.scale_questions and "local" in config.backends and any(n != "seeds" for n in prepared):
        notes.append(
            f"Local-LLM answers beyond the seeds use the first {config.scale_questions} eval questions "
            "(retrieval and extractive answers use all of them)."
        )
    if config.baseline:
        notes.append(
            "Baseline and ours alternate per question (A B A B) with the same loaded llama.cpp engine; both share "
            "its single slot and prompt cache, so each call may evict the other's cached prefix (restored from RAM "
            "by llama.cpp's prompt cache when it can)."
        )
    return notes


def _run_ingest(config: BenchConfig, prepared: dict[str, PreparedSize], work: Path) -> dict[str, Any]:
    from evals.bench.ingest import run_in_subprocess

    results: dict[str, Any] = {}
    for name, size in prepared.items():
        if size.spec.synthetic:
            continue
        log.info("ingest benchmark: %s", name)
        try:
            results[name] = run_in_subprocess(size.settings.corpus_dir, work / f"ingest-{name}",
                                              config.ingest_rounds, config.baseline, noop_cli=config.noop_cli)
        except Exception as exc:  # one failing size should not lose the rest of the run
            log.exception("ingest benchmark failed for %s", name)
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        shutil.rmtree(work / f"ingest-{name}", ignore_errors=True)
    return results


def _baseline_chain(size: PreparedSize, config: BenchConfig, model: Any) -> Any:
    """The baseline's runnable over this size's corpus (its Chroma index cached beside ours)."""
    from evals.bench.baseline import ingest_baseline, open_baseline
    from rag.embeddings import get_embedder

    settings = size.settings
    embedder = get_embedder(settings.resolved_embedding_model(), settings.embedding_batch_size)
    folder = Path(config.cache).expanduser() / f"baseline-{size.spec.name}-{settings.index_fingerprint()}-{data_key(size.spec)}"
    ready = folder / "bench-ready"
    if not ready.exists():
        shutil.rmtree(folder, ignore_errors=True)
        result = ingest_baseline(settings.corpus_dir, folder, embedder)
        ready.write_text(json.dumps(asdict(result)))
    return open_baseline(folder, embedder).chain(model)


def _compare(ours: dict[str, Any], base: dict[str, Any], ours_runs: list[Any], base_runs: list[Any]) -> dict[str, Any]:
    paired = [ratio(o.total, b.total) for o, b in zip(ours_runs, base_runs, strict=True)]
    return {
        "ratio_first_token_p50": ratio(ours["first_token"]["median"], base["first_token"]["median"]),
        "ratio_total_p50": ratio(ours["total"]["median"], base["total"]["median"]),
        "speedup_total_p50": ratio(base["total"]["median"], ours["total"]["median"]),
        "speedup_first_token_p50": ratio(base["first_token"]["median"], ours["first_token"]["median"]),
        "median_paired_ratio_total": summarize(paired)["median"],
    }


def _run_answers(config: BenchConfig, prepared: dict[str, PreparedSize], results: dict[str, Any]) -> Any:
    """Answer latency per size and backend, with the baseline alternated at the baseline sizes."""
    from evals.bench.latency import answer_latency
    from evals.bench.quality import score

    questions = _questions(config.questions)
    base_questions = _questions(config.baseline_questions or config.questions)
    model = None
    if "local" in config.backends:
        from rag.llm.factory import build_chat_model

        model = build_chat_model(next(iter(prepared.values())).settings.model_copy(update={"backend": "local"}))
    for name, size in prepared.items():
        for backend in config.backends:
            with_baseline = config.baseline and backend == "local" and name in config.baseline_sizes
            chain_model = model if backend == "local" else None
            baseline_chain = _baseline_chain(size, config, model) if with_baseline else None
            qs = base_questions if with_baseline else questions
            if backend == "local" and name != "seeds" and config.scale_questions:
                qs = qs[: config.scale_questions]
            log.info("answers: %s / %s on %d questions%s", name, backend, len(qs), " + baseline" if with_baseline else "")
            if not qs:
                continue
            r = answer_latency(size.settings, backend, qs, chain_model, baseline_chain)
            entry: dict[str, Any] = {
                "model_warm_up_seconds": r["model_warm_up_seconds"],
                "ours": r["ours"],
                "quality": score(qs, r["ours_runs"], size.settings),
                "runs": [run.to_json() for run in r["ours_runs"]],
            }
            results["answers"].setdefault(name, {})[backend] = entry
            if with_baseline:
                results["baseline"][name] = {
                    "questions": len(qs),
                    "ours": r["ours"],
                    "baseline": r["baseline"],
                    "quality": {"ours": entry["quality"],
                                "baseline": score(qs, r["baseline_runs"], size.settings)},
                    **_compare(r["ours"], r["baseline"], r["ours_runs"], r["baseline_runs"]),
                    "baseline_runs": [run.to_json() | {"answer": run.answer} for run in r["baseline_runs"]],
                }
            _checkpoint(config, results)
    return model


def _checkpoint(config: BenchConfig, results: dict[str, Any]) -> None:
    """Save partial results, so a long run that dies still leaves its numbers."""
    try:
        config.out.mkdir(parents=True, exist_ok=True)
        (config.out / ".bench-partial.json").write_text(json.dumps(results, indent=1, default=str))
    except OSError as exc:
        log.warning("cannot save partial results: %s", exc)


def _run_profiles(config: BenchConfig, prepared: dict[str, PreparedSize], model: Any) -> dict[str, Any]:
    """(a) a cold ingest of the largest real corpus, (b) one warm local answer, (c) one search at the largest size."""
    from evals.bench.latency import warm_model
    from evals.bench.profile import profile_answer, profile_ingest, profile_retrieval
    from rag.answer.chain import build_chain

    profiles: dict[str, Any] = {}
    real = [p for p in prepared.values() if not p.spec.synthetic]
    ingest_size = prepared.get("bbc") or (real[-1] if real else None)
    probe = "How does the Home Office plan to change the use of Article 8 in immigration cases?"
    jobs = []
    if ingest_size is not None:
        jobs.append((f"ingest ({ingest_size.spec.name})", lambda: profile_ingest(ingest_size.settings.corpus_dir, config.out)))
    if model is not None and ingest_size is not None:
        chain = build_chain(ingest_size.settings.model_copy(update={"backend": "local"}), chat_model=model)

        def answer() -> dict[str, Any]:
            warm_model(model)
            return profile_answer(chain, probe, config.out)

        jobs.append((f"answer (local, warm, {ingest_size.spec.name})", answer))
    largest = max(prepared.values(), key=lambda p: p.passages)
    jobs.append((f"retrieval ({largest.spec.name}, {largest.passages:,} passages)",
                 lambda: profile_retrieval(largest.settings, probe, config.out, f"{largest.passages // 1000}k")))
    for label, job in jobs:
        log.info("profiling %s", label)
        try:
            profiles[label] = job()
        except Exception as exc:
            log.exception("profile %s failed", label)
            profiles[label] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return profiles


def run_bench(config: BenchConfig) -> dict[str, Any]:
    """Measure everything config asks for; returns the results dict (see module docstring)."""
    started = time.perf_counter()
    for name in config.sizes:
        parse_size(name)  # fail before measuring anything
    results: dict[str, Any] = {
        "schema": 1,
        "command": config.command,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "machine": machine_info(),
        "sizes": {},
        "ingest": {},
        "retrieval": {},
        "answers": {},
        "baseline": {},
        "app": None,
        "api": None,
        "scale_out": None,
        "profiles": None,
    }
    prepared: dict[str, PreparedSize] = {}
    for name in config.sizes:
        log.info("preparing size %s", name)
        prepared[name] = prepare_size(name, config.cache, progress=sys.stderr.isatty())
        results["sizes"][name] = prepared[name].describe()
    results["notes"] = _notes(config, prepared)

    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        work = Path(tmp)
        if config.ingest:
            results["ingest"] = _run_ingest(config, prepared, work)
            _checkpoint(config, results)

        from evals.bench.latency import retrieval_latency

        all_questions = _questions(config.retrieval_questions)
        for name, size in prepared.items():
            log.info("retrieval latency: %s", name)
            results["retrieval"][name] = retrieval_latency(size.settings, all_questions)
        _checkpoint(config, results)

        model = _run_answers(config, prepared, results)
        if config.baseline:
            results["baseline"]["quality_method"] = QUALITY_METHOD
        if model is not None and config.verification_questions and "seeds" in prepared:
            from evals.bench.latency import verification_cost

            log.info("verification cost: generate with and without the LLM verifier")
            qs = [q for q in _questions(None) if q.answerable][: config.verification_questions]
            results["verification"] = verification_cost(prepared["seeds"].settings, qs, model)
            _checkpoint(config, results)

        if config.scale_out:
            from evals.bench.scaleout import server_vs_embedded

            target = prepared.get("bbc") or max(prepared.values(), key=lambda p: p.passages)
            log.info("scale-out: Chroma server vs embedded on %s", target.spec.name)
            try:
                results["scale_out"] = {"size": target.spec.name, **server_vs_embedded(target.settings, all_questions)}
            except Exception as exc:
                log.exception("scale-out benchmark failed")
                results["scale_out"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}

        if config.app:
            from evals.bench.app import app_cold_start

            real = [p for p in prepared.values() if not p.spec.synthetic]
            target = prepared.get("bbc") or real[-1]
            backend = "local" if "local" in config.backends else "extractive"
            log.info("app cold start on %s (%s)", target.spec.name, backend)
            questions = [q.question for q in _questions(config.app_questions)]
            results["app"] = app_cold_start(target.settings, work / "app", questions, backend)

        if config.api and "seeds" in prepared:
            from evals.bench.api import api_overhead

            log.info("API overhead: chain.invoke vs /v1/chat/completions on seeds")
            questions = [q.question for q in _questions(config.api_questions) if not q.history]
            results["api"] = api_overhead(prepared["seeds"].settings, work / "api", questions, config.backends)
            _checkpoint(config, results)

        if config.profile:
            results["profiles"] = _run_profiles(config, prepared, model)

    results["load_average_end"] = load_average()
    results["duration_seconds"] = time.perf_counter() - started
    results["goals"] = evaluate_goals(results)
    return results


def write_results(results: dict[str, Any], out: Path, *, quick: bool = False, latest: bool = True) -> tuple[Path, Path]:
    """bench-<date>.json (all raw figures) and bench-<date>.md; bench-latest.md too for full runs."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.date.today().isoformat() + ("-quick" if quick else "")
    json_path = out / f"bench-{stamp}.json"
    md_path = out / f"bench-{stamp}.md"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    markdown = render_markdown(results)
    md_path.write_text(markdown)
    if latest and not quick:
        (out / "bench-latest.md").write_text(markdown)
    (out / ".bench-partial.json").unlink(missing_ok=True)
    return json_path, md_path


__all__ = ["BenchConfig", "run_bench", "write_results", "bench_settings"]
