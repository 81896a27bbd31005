"""`rag eval`: run a question set and write the reports; `rag eval compare`; `rag eval judges`.

Added to the `rag` command through the `newsrag.commands` entry point (pyproject.toml). Only typer
and the standard library are imported here; the evaluation code loads when a command runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

log = logging.getLogger(__name__)

CLAIMS = Path(__file__).resolve().parents[1] / "datasets" / "claims.jsonl"
JudgeChoice = Literal["auto", "none", "deterministic", "llm", "verifier", "both", "all"]
BackendChoice = Literal["local", "openai", "extractive"]

eval_app = typer.Typer(
    help="Evaluate the assistant on a question set: faithfulness, correctness, retrieval, refusals, latency.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def judge_names(choice: str, backend: str) -> tuple[str, ...]:
    """The judges to run: "auto" is deterministic, plus llm when there is a language model."""
    if choice == "auto":
        return ("deterministic", "llm") if backend in ("local", "openai") else ("deterministic",)
    return {"none": (), "both": ("deterministic", "llm"), "all": ("deterministic", "llm", "verifier")}.get(
        choice, (choice,)
    )


DatasetOpt = Annotated[Path | None, typer.Option("--dataset", help="Questions file (JSON Lines, see evals/datasets).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Folder for report.json, report.md and report.html.")]
BackendOpt = Annotated[BackendChoice | None, typer.Option("--backend", help="local, openai or extractive.")]
JudgeOpt = Annotated[
    JudgeChoice, typer.Option("--judge", help="Faithfulness judges; auto = deterministic, plus llm with a model.")
]
ClaimsOpt = Annotated[Path, typer.Option("--claims", help="Labelled claims that measure the judges.")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")]


def _minimum(flag: str, what: str) -> Any:
    return typer.Option(flag, help=f"Exit 1 when {what} is below this.")


@eval_app.callback()
def run(
    ctx: typer.Context,
    dataset: DatasetOpt = None,
    out: OutOpt = None,
    backend: BackendOpt = None,
    strategy: Annotated[
        Literal["auto", "select", "generate", "extract"] | None,
        typer.Option("--strategy", help="Answer strategy (RAG_ANSWER_STRATEGY): select, generate, extract or auto."),
    ] = None,
    k: Annotated[int | None, typer.Option("--k", min=1, max=50, help="Passages to retrieve.")] = None,
    index: Annotated[Path | None, typer.Option("--index", help="Index folder (built if missing).")] = None,
    corpus: Annotated[Path | None, typer.Option("--corpus", help="Folder of articles.")] = None,
    judge: JudgeOpt = "auto",
    claims: ClaimsOpt = CLAIMS,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N questions.")] = None,
    split: Annotated[
        Literal["dev", "test"] | None, typer.Option("--split", help="Only the dev or the test half of the dataset.")
    ] = None,
    min_faithfulness: Annotated[float | None, _minimum("--min-faithfulness", "faithfulness (primary judge)")] = None,
    min_correctness: Annotated[float | None, _minimum("--min-correctness", "correctness")] = None,
    min_refusal_recall: Annotated[float | None, _minimum("--min-refusal-recall", "refusal recall")] = None,
    min_recall_at_k: Annotated[float | None, _minimum("--min-recall-at-k", "recall@k")] = None,
    export_ragas: Annotated[Path | None, typer.Option("--export-ragas", help="Also write RAGAS JSON Lines.")] = None,
    progress: ProgressOpt = True,
) -> None:
    """Answer every question of --dataset and write report.json, report.md and report.html to --out.

    Exits with status 1, one line per failure, when a --min-* threshold is not met.
    """
    if ctx.invoked_subcommand is not None:
        return
    if dataset is None or out is None:
        typer.echo(ctx.get_help())
        raise typer.BadParameter("--dataset and --out are required", param_hint="rag eval")

    from evals.quality.report import check_thresholds, render_markdown, write_ragas, write_reports
    from evals.quality.runner import EvalConfig, run_eval
    from rag.settings import get_settings

    settings = get_settings(corpus_dir=corpus, index_dir=index, backend=backend, top_k=k, answer_strategy=strategy)
    config = EvalConfig(
        dataset=dataset,
        judges=judge_names(judge, settings.backend),
        claims=claims,
        judges_cache=out / "judges.json",
        limit=limit,
        split=split,
        progress=progress,
    )
    result = run_eval(settings, config)
    paths = write_reports(result.report, out)
    if export_ragas is not None:
        write_ragas(result.answered, export_ragas)
        paths.append(export_ragas)
    summary = render_markdown(result.report).split("## Judges")[0]
    typer.echo(summary.rstrip())
    typer.echo("\nWrote " + ", ".join(str(p) for p in paths))
    failures = check_thresholds(result.report, {
        "faithfulness": min_faithfulness,
        "correctness": min_correctness,
        "refusal_recall": min_refusal_recall,
        "recall_at_k": min_recall_at_k,
    })
    for failure in failures:
        typer.echo(f"FAILED: {failure}", err=True)
    if failures:
        raise typer.Exit(1)


@eval_app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="Baseline report.json (or its folder).")],
    b: Annotated[Path, typer.Argument(help="New report.json (or its folder).")],
) -> None:
    """Print each metric A -> B with its delta, and the questions whose outcome flipped."""
    from evals.quality.report import compare_reports, load_report

    for line in compare_reports(load_report(a), load_report(b)):
        typer.echo(line)


@eval_app.command()
def judges(
    out: Annotated[Path, typer.Option("--out", help="Folder for judges.json and judges.md.")],
    dataset: Annotated[Path, typer.Option("--dataset", help="Labelled claims (JSON Lines).")] = CLAIMS,
    backend: BackendOpt = None,
    judge: JudgeOpt = "auto",
    split: Annotated[
        Literal["dev", "test"] | None, typer.Option("--split", help="Only the dev or the test half of the claims.")
    ] = None,
    progress: ProgressOpt = True,
) -> None:
    """Measure the faithfulness judges on labelled claims: balanced accuracy, precision/recall, accuracy per kind."""
    from evals.quality.report import judges_markdown
    from evals.quality.runner import measure_judges
    from rag.settings import get_settings

    settings = get_settings(backend=backend)
    names = judge_names(judge, settings.backend)
    if not names:
        raise typer.BadParameter("--judge none measures nothing", param_hint="--judge")
    results = measure_judges(settings, names, dataset, out / "judges.json", progress, split)
    lines = ["# Faithfulness judges", "", *judges_markdown(results, str(dataset))]
    out.mkdir(parents=True, exist_ok=True)
    (out / "judges.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    typer.echo("\n".join(lines).rstrip())
    typer.echo(f"\nWrote {out / 'judges.json'}, {out / 'judges.md'}")


def register(app: typer.Typer) -> None:
    """Add `eval` to rag's command line (the `newsrag.commands` entry point)."""
    app.add_typer(eval_app, name="eval")
