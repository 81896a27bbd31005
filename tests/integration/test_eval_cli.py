"""`rag eval` end to end with the extractive backend over the real seed index."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from evals.quality.dataset import CLAIMS_PATH, QUESTIONS_PATH, load_claims
from rag.cli import app
from rag.errors import RagError
from rag.settings import Settings

pytestmark = pytest.mark.integration

# Two why/how, one number, one who-said-what, one follow-up with history, two unanswerable (one with history).
SUBSET = ("s01", "s07", "s27", "s44", "s52", "s66")


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [line for line in QUESTIONS_PATH.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line)["id"] in SUBSET]
    path = tmp_path_factory.mktemp("subset") / "subset.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _eval(settings: Settings, dataset: Path, out: Path, *extra: str, judges_from: Path | None = None) -> Result:
    if judges_from is not None:  # reuse the judges' measurement instead of redoing it
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(judges_from / "judges.json", out / "judges.json")
    args = ["eval", "--dataset", str(dataset), "--backend", "extractive", "--index", str(settings.index_dir),
            "--corpus", str(settings.corpus_dir), "--out", str(out), "--no-progress", *extra]
    return CliRunner().invoke(app, args)


@pytest.fixture(scope="module")
def first(seed_settings: Settings, subset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval-first")
    result = _eval(seed_settings, subset, out, "--export-ragas", str(out / "ragas.jsonl"))
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "recall@5" in result.output and "Wrote" in result.output
    return out


def test_reports_are_written(first: Path) -> None:
    report = json.loads((first / "report.json").read_text(encoding="utf-8"))
    assert [q["id"] for q in report["questions"]] == list(SUBSET)
    agg = report["aggregates"]
    assert agg["questions"] == {"total": 6, "answerable": 4, "unanswerable": 2, "errors": 0, "refused": 1,
                                "fallbacks": 0, "with_history": 2}
    assert agg["retrieval"]["n"] == 4 and 0 < agg["retrieval"]["recall_at_k"] <= 1
    # s52 (general knowledge) is refused; the extractive backend answers s66 (the follow-up) from its passages.
    assert agg["refusal"]["recall"] == 0.5 and agg["refusal"]["false_refusals"] == 0
    assert agg["refusal"]["false_answers"] == 1
    # Extractive answers are the cited sentences themselves: the deterministic judge finds them supported.
    assert agg["faithfulness"]["deterministic"]["faithfulness"] == 1.0
    assert agg["latency"]["total"]["n"] == 6 and agg["latency"]["first_token"]["n"] == 0
    assert report["judges"]["deterministic"]["claims"]["n"] == len(load_claims(CLAIMS_PATH))
    assert report["dataset"]["sha256"] and report["versions"]["python"] and report["settings"]["top_k"] == 5
    assert report["primary_judge"] == "deterministic" and "llm" not in report["judges"]

    md = (first / "report.md").read_text(encoding="utf-8")
    for heading in ("## Summary", "| metric | value | n | definition |", "## Judges", "## Worst cases"):
        assert heading in md
    assert "balanced accuracy" in md

    page = (first / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    # Self-contained: no scripts, no stylesheets or images fetched from anywhere.
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)


def test_ragas_export(first: Path) -> None:
    rows = [json.loads(line) for line in (first / "ragas.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6
    assert all(set(row) == {"user_input", "retrieved_contexts", "response", "reference"} for row in rows)
    assert rows[0]["user_input"] == "Why won't Starmer leave the ECHR?"
    assert len(rows[0]["retrieved_contexts"]) == 5 and all(isinstance(c, str) for c in rows[0]["retrieved_contexts"])


def test_repeated_runs_give_identical_numbers(first: Path, seed_settings: Settings, subset: Path,
                                              tmp_path: Path) -> None:
    result = _eval(seed_settings, subset, tmp_path / "again", judges_from=first)
    assert result.exit_code == 0, result.output
    a = json.loads((first / "report.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "again" / "report.json").read_text(encoding="utf-8"))
    for report in (a, b):
        del report["aggregates"]["latency"]
        for q in report["questions"]:
            del q["latency"]
    assert a["aggregates"] == b["aggregates"]
    assert a["questions"] == b["questions"]
    assert a["judges"]["deterministic"]["claims"]["balanced_accuracy"] == \
        b["judges"]["deterministic"]["claims"]["balanced_accuracy"]

    compared = CliRunner().invoke(app, ["eval", "compare", str(first), str(tmp_path / "again" / "report.json")])
    assert compared.exit_code == 0, compared.output
    assert "retrieval.recall_at_k" in compared.output and "(=)" in compared.output
    assert "0 question outcome(s) changed." in compared.output


def test_compare_shows_deltas_and_flips(first: Path, tmp_path: Path) -> None:
    report = json.loads((first / "report.json").read_text(encoding="utf-8"))
    report["aggregates"]["correctness"]["correctness"] -= 0.25
    report["questions"][0]["outcome"] = "false_refusal"
    changed = tmp_path / "b"
    changed.mkdir()
    (changed / "report.json").write_text(json.dumps(report), encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "compare", str(first), str(changed)])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("correctness.correctness"))
    assert "(-0.250)" in line
    assert "1 question outcome(s) changed:" in result.output
    assert f"s01: {json.loads((first / 'report.json').read_text())['questions'][0]['outcome']} -> false_refusal" \
        in result.output


def test_compare_rejects_what_is_not_a_report(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "compare", str(tmp_path / "x.json"), str(tmp_path / "x.json")])
    assert isinstance(result.exception, RagError) and "not a report.json" in str(result.exception)


def test_thresholds_fail_the_run(first: Path, seed_settings: Settings, subset: Path, tmp_path: Path) -> None:
    result = _eval(seed_settings, subset, tmp_path / "strict", "--min-recall-at-k", "1.01",
                   "--min-faithfulness", "1.01", "--min-correctness", "0.0", judges_from=first)
    assert result.exit_code == 1
    failed = [line for line in result.output.splitlines() if line.startswith("FAILED:")]
    assert len(failed) == 2, result.output
    assert any("recall@k" in line and "--min-recall-at-k 1.01" in line for line in failed)
    assert any("faithfulness (deterministic judge)" in line for line in failed)
    assert (tmp_path / "strict" / "report.json").exists()  # the reports are written all the same


def test_an_external_dataset_runs_unchanged(seed_settings: Settings, first: Path, tmp_path: Path) -> None:
    rows = [
        {"id": "x1", "question": "How many member states does the Council of Europe have? <b>bold</b>",
         "reference_answer": "It has 46 member states.", "answerable": True, "sources": ["000", "001"],
         "key_facts": ["46 member states"]},
        {"id": "x2", "question": "And who chairs it?", "reference_answer": "The articles do not say.",
         "answerable": False, "history": [["What is the Council of Europe?", "A body of 46 member states."]]},
        {"id": "x3", "question": "What is the capital of Australia?",
         "reference_answer": "The articles do not say.", "answerable": False},
        # Longer than max_question_chars: the chain rejects it; the run records the error and goes on.
        {"id": "x4", "question": "Why? " * 500, "reference_answer": "R.", "answerable": True, "sources": ["000"]},
    ]
    dataset = tmp_path / "mine.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    fresh_index = seed_settings.model_copy(update={"index_dir": tmp_path / "new-index"})
    result = _eval(fresh_index, dataset, tmp_path / "out", judges_from=first)  # no index yet: it is built
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert (tmp_path / "new-index" / "catalog.sqlite3").exists()
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    counts = report["aggregates"]["questions"]
    assert (counts["total"], counts["with_history"], counts["errors"]) == (4, 1, 1)
    error = report["questions"][3]
    assert error["outcome"] == "error" and "limit is 2,000" in error["error"]
    assert report["aggregates"]["retrieval"]["n"] == 1  # the failed question is left out of the metrics
    assert report["index"]["articles"] == 3
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<b>bold</b>" not in page  # text is escaped


def test_a_bad_dataset_names_file_and_line(seed_settings: Settings, tmp_path: Path) -> None:
    dataset = tmp_path / "bad.jsonl"
    dataset.write_text('{"id": "a", "question": "Q?", "reference_answer": "R", "answerable": true}\n{oops\n',
                       encoding="utf-8")
    result = _eval(seed_settings, dataset, tmp_path / "out")
    assert isinstance(result.exception, RagError)
    message = str(result.exception)
    assert "bad.jsonl, line 2" in message and "\n" not in message


def test_llm_judge_is_refused_without_a_model(seed_settings: Settings, subset: Path, tmp_path: Path) -> None:
    result = _eval(seed_settings, subset, tmp_path / "out", "--judge", "llm", "--limit", "1")
    assert isinstance(result.exception, RagError) and "needs a language model" in str(result.exception)


def test_judges_command(first: Path, tmp_path: Path) -> None:
    out = tmp_path / "judges"
    out.mkdir()
    shutil.copy(first / "judges.json", out / "judges.json")
    result = CliRunner().invoke(app, ["eval", "judges", "--backend", "extractive", "--out", str(out),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "| deterministic |" in result.output and "wrong_number" in result.output
    assert (out / "judges.md").exists()
