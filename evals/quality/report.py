"""Render an evaluation (the ``report.json`` dict) as Markdown and self-contained HTML; compare two runs.

Also: the threshold check behind ``--min-*`` and the RAGAS export. Nothing here
runs a model: every function reads the dict that :func:`evals.quality.runner.run_eval`
returns (or a ``report.json`` loaded from disk).
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.quality.funnel import compare_funnels, funnel_lines
from rag.errors import RagError

if TYPE_CHECKING:
    from evals.quality.runner import Answered

log = logging.getLogger(__name__)

WORST_CASES = 10


# --- which numbers, and what they mean -------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One headline number: where it sits in ``aggregates``, its label and its definition."""

    name: str  # dotted path under "aggregates", also the name used by `compare`
    label: str
    definition: str
    n: str | None = None  # dotted path of the count it is computed over
    kind: str = "score"  # score (0..1, higher better), count (lower better), seconds (lower better)


def headline_metrics(report: dict[str, Any]) -> list[Metric]:
    """The summary-table rows for this report (judges and k depend on the run)."""
    k = report.get("settings", {}).get("top_k", "k")
    rows = [
        Metric("retrieval.recall_at_k", f"recall@{k}",
               "Share of the question's expected source articles among the k retrieved passages "
               "(answerable questions with sources; without sources, share of its reference contexts "
               "found in a retrieved passage).", "retrieval.n"),
        Metric("retrieval.mrr", "MRR", "Mean of 1/rank of the first retrieved passage from an expected article "
               "or holding a reference context (0 when none is retrieved).", "retrieval.n"),
        Metric("correctness.correctness", "correctness",
               "Mean of key-fact recall and semantic similarity, over answerable questions (a refusal scores 0).",
               "correctness.n"),
        Metric("correctness.key_fact_recall", "key-fact recall",
               "Share of key facts conveyed: >= 80% of a fact's content words (lower-cased, stemmed, "
               "stop words removed) occur in the answer.", "correctness.n"),
        Metric("correctness.semantic_similarity", "semantic similarity",
               "MiniLM cosine of the answer (markers removed) and the reference answer.", "correctness.n"),
        Metric("correctness.token_f1", "token F1",
               "SQuAD token F1 of answer and reference (lower-cased; punctuation and a/an/the removed).",
               "correctness.n"),
        Metric("refusal.precision", "refusal precision",
               "Share of refusals that were for unanswerable questions."),
        Metric("refusal.recall", "refusal recall", "Share of unanswerable questions refused.",
               "questions.unanswerable"),
        Metric("refusal.false_refusals", "false refusals", "Answerable questions refused.",
               "questions.answerable", "count"),
        Metric("refusal.false_answers", "false answers", "Unanswerable questions answered.",
               "questions.unanswerable", "count"),
    ]
    for judge in report.get("aggregates", {}).get("faithfulness", {}):
        rows += [
            Metric(f"faithfulness.{judge}.faithfulness", f"faithfulness ({judge})",
                   "Share of an answer's sentences supported by the passages they cite, averaged over answers "
                   "(refusals excluded).", f"faithfulness.{judge}.answers"),
            Metric(f"faithfulness.{judge}.citation_precision", f"citation precision ({judge})",
                   "Share of citations whose quote supports the sentence that cites it.",
                   f"faithfulness.{judge}.citations"),
            Metric(f"faithfulness.{judge}.citation_recall", f"citation recall ({judge})",
                   "Share of sentences with at least one supporting citation.", f"faithfulness.{judge}.claims"),
        ]
    for stage, what in (("retrieval", "evidence (retrieval done)"), ("first_token", "first token"),
                        ("total", "final answer")):
        for stat in ("median", "p95"):
            rows.append(Metric(f"latency.{stage}.{stat}", f"{stat} seconds to {what}",
                               f"{'Median' if stat == 'median' else '95th percentile'} over questions.",
                               f"latency.{stage}.n", "seconds"))
    return rows


def _get(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def metric_values(report: dict[str, Any]) -> dict[str, float | None]:
    """Every headline number by name, plus each judge's balanced accuracy on the labelled claims."""
    aggregates = report.get("aggregates", {})
    values = {m.name: _get(aggregates, m.name) for m in headline_metrics(report)}
    for judge, status in sorted(report.get("judges", {}).items()):
        values[f"judges.{judge}.balanced_accuracy"] = _get(status, "claims.balanced_accuracy")
    return values


def _fmt(value: Any, kind: str = "score") -> str:
    if value is None:
        return "n/a"
    if kind == "count" or isinstance(value, bool) or (isinstance(value, int) and kind != "seconds"):
        return str(value)
    if kind == "seconds":
        return f"{value:.2f} s"
    return f"{value:.3f}"


# --- thresholds --------------------------------------------------------------------------------


def primary_faithfulness(report: dict[str, Any]) -> tuple[float | None, str | None]:
    judge = report.get("primary_judge")
    if judge is None:
        return None, None
    return _get(report["aggregates"], f"faithfulness.{judge}.faithfulness"), judge


def check_thresholds(report: dict[str, Any], minimums: dict[str, float | None]) -> list[str]:
    """One line per failed ``--min-*`` threshold (an unmeasurable metric fails too)."""
    aggregates = report["aggregates"]
    faithfulness, judge = primary_faithfulness(report)
    measured = {
        "faithfulness": (faithfulness, f"faithfulness ({judge} judge)" if judge else "faithfulness"),
        "correctness": (_get(aggregates, "correctness.correctness"), "correctness"),
        "refusal_recall": (_get(aggregates, "refusal.recall"), "refusal recall"),
        "recall_at_k": (_get(aggregates, "retrieval.recall_at_k"), "recall@k"),
    }
    failures = []
    for name, minimum in minimums.items():
        if minimum is None:
            continue
        value, label = measured[name]
        option = "--min-" + name.replace("_", "-")
        if value is None:
            failures.append(f"{label} was not measured, so {option} {minimum:g} fails")
        elif value < minimum:
            failures.append(f"{label} {value:.3f} is below {option} {minimum:g}")
    return failures


# --- Markdown -----------------------------------------------------------------------------------

_MD_SPECIAL = str.maketrans({**{c: "\\" + c for c in "\\`*|#"}, "<": "&lt;"})  # intraword _ is literal


def md(text: Any) -> str:
    """Text safe inside a Markdown table cell or paragraph: one line, special characters escaped."""
    return " ".join(str(text).split()).translate(_MD_SPECIAL)


def _overview(report: dict[str, Any]) -> list[str]:
    ds, model, q = report["dataset"], report["model"], report["aggregates"]["questions"]
    s = report["settings"]
    llm = f", model {model.get('model')} ({model.get('file') or model.get('base_url')})" if model.get("model") else ""
    judges = ", ".join(
        f"{name} ({st.get('model')}){'' if st.get('status') == 'ok' else ' — UNAVAILABLE: ' + str(st.get('reason'))}"
        for name, st in sorted(report["judges"].items())
    ) or "none"
    return [
        f"- **Dataset:** `{ds['path']}` (sha256 `{ds['sha256'][:16]}`), {q['total']} questions: "
        f"{q['answerable']} answerable, {q['unanswerable']} unanswerable, {q['with_history']} with history"
        + (f" ({ds['split']} half)" if ds.get("split") else "")
        + (f" (first {ds['limit']} only)" if ds.get("limit") else ""),
        *([f"- **Ignored dataset columns:** {md(', '.join(ds['ignored_columns']))} "
           "(no field of the question format uses them)"] if ds.get("ignored_columns") else []),
        f"- **Backend:** {model['backend']}{llm}, strategy {model.get('strategy', 'generate')}, "
        f"temperature {model['temperature']}, k = {s['top_k']}, "
        f"min_support = {s['min_support']}, min_relevance = {s['min_relevance']}",
        f"- **Index:** {report['index'].get('articles')} articles, {report['index'].get('passages')} passages "
        f"(fingerprint `{report['index'].get('fingerprint')}`)",
        f"- **Judges:** {judges}",
        f"- **Code:** sources `{report.get('code', {}).get('sources_sha256')}`, commit "
        f"`{str(report.get('code', {}).get('commit'))[:12]}`"
        + (" with uncommitted changes" if report.get("code", {}).get("uncommitted_changes") else ""),
        f"- **Run:** {report['created']}, {report['seconds']} s; errors {q['errors']}, "
        f"answers by the extractive fallback {q['fallbacks']}, sentences dropped by verification "
        f"{report['aggregates']['dropped_sentences']}",
    ]


def _measurement(status: dict[str, Any]) -> dict[str, Any]:
    """A judge's measurement on the labelled claims: inside a run's judge status, or a bare judges.json entry."""
    claims = status.get("claims")
    return claims if isinstance(claims, dict) else status


Table = tuple[list[str], list[list[str]]]  # header, rows of plain-text cells


def judge_table(judges: dict[str, Any]) -> Table:
    """Each judge's quality on the labelled claims, with "supported" as the positive class."""
    header = ["judge", "model", "balanced accuracy", "precision (supported)", "recall (supported)", "claims",
              "best threshold"]
    rows = []
    for name, status in sorted(judges.items()):
        claims = _measurement(status)
        if claims.get("status") == "unavailable" or "balanced_accuracy" not in claims:
            reason = claims.get("reason") or status.get("reason") or "not measured"
            rows.append([name, str(status.get("model")), f"n/a ({reason})", "", "", "", ""])
            continue
        best = claims.get("best_threshold") or {}
        rows.append([
            name, str(claims["model"]), f"{_fmt(claims['balanced_accuracy'])} at {claims['threshold']:g}",
            _fmt(claims["precision_supported"]), _fmt(claims["recall_supported"]), str(claims["n"]),
            f"{best.get('threshold', 'n/a')} (balanced accuracy {_fmt(best.get('balanced_accuracy'))})",
        ])
    return header, rows


def kind_table(judges: dict[str, Any]) -> Table | None:
    """Each judge's accuracy per kind of labelled claim."""
    measured = {name: _measurement(st) for name, st in sorted(judges.items())}
    measured = {k: v for k, v in measured.items() if "per_kind" in v}
    if not measured:
        return None
    kinds = sorted({kind for m in measured.values() for kind in m["per_kind"]})
    rows = []
    for kind in kinds:
        n = next((m["per_kind"][kind]["n"] for m in measured.values() if kind in m["per_kind"]), 0)
        rows.append([kind, str(n), *(_fmt(m["per_kind"].get(kind, {}).get("accuracy")) for m in measured.values())])
    return ["kind", "n", *(f"{name} accuracy" for name in measured)], rows


def weighting_notes(judges: dict[str, Any]) -> list[str]:
    """For the deterministic judge: how other lexical weights in ``combine`` would do."""
    notes = []
    for name, status in sorted(judges.items()):
        weighting = _measurement(status).get("weighting")
        if not weighting:
            continue
        best = max(weighting["sweep"], key=lambda row: (row["balanced_accuracy_at_best"], -abs(row["weight"] - weighting["shipped_weight"])))
        shipped = next(r for r in weighting["sweep"] if r["weight"] == weighting["shipped_weight"])
        cv = weighting["cross_validated"]
        notes.append(
            f"{name} judge, lexical weight in combine (shipped {weighting['shipped_weight']}): "
            f"the shipped weight gives {_fmt(shipped['balanced_accuracy_at_threshold'])} at the threshold and "
            f"{_fmt(shipped['balanced_accuracy_at_best'])} at its best threshold {shipped['best_threshold']}; "
            f"the best weight {best['weight']} gives {_fmt(best['balanced_accuracy_at_best'])} at threshold "
            f"{best['best_threshold']} (in-sample). {cv['folds']}-fold cross-validated, claims of a passage kept "
            f"together: tuned {_fmt(cv['tuned_balanced_accuracy'])} vs shipped {_fmt(cv['shipped_balanced_accuracy'])}."
        )
    return notes


def md_table(table: Table) -> list[str]:
    header, rows = table
    return ["| " + " | ".join(md(c) for c in header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(md(c) for c in row) + " |" for row in rows)]


def judges_markdown(judges: dict[str, Any], claims_path: str | None = None) -> list[str]:
    """The judges' quality on the labelled claims: overall, per kind, and the deterministic weighting sweep."""
    lines = [f"Measured on `{claims_path}`.", ""] if claims_path else []
    lines += [*md_table(judge_table(judges)), ""]
    kinds = kind_table(judges)
    if kinds:
        lines += [KINDS_NOTE, "", *md_table(kinds), ""]
    for note in weighting_notes(judges):
        lines += [md(note), ""]
    return lines


KINDS_NOTE = "Accuracy per kind of claim (supported kinds: paraphrase, verbatim, inference-light):"
JUDGES_NOTE = ("Each faithfulness number is only as good as its judge: the balanced accuracy below is the judge's "
               "error bar.")


def unsupported_table(report: dict[str, Any]) -> Table:
    """Every answer sentence a judge found unsupported by the passages it cites, whatever its question's rank."""
    rows = []
    for q in report["questions"]:
        for judge, result in sorted((q.get("faithfulness") or {}).items()):
            for claim in result["claims"]:
                if claim["supported"] is False:
                    markers = "".join(f"[{m}]" for m in claim["markers"]) or "none"
                    rows.append([q["id"], judge, _fmt(claim["score"]), markers, claim["text"]])
    return ["question", "judge", "score", "cites", "sentence"], rows


def worst_cases(report: dict[str, Any], limit: int = WORST_CASES) -> list[dict[str, Any]]:
    bad = [q for q in report["questions"] if q.get("failures")]
    return sorted(bad, key=lambda q: (-q["severity"], q["id"]))[:limit]


def render_markdown(report: dict[str, Any], worst: int = WORST_CASES) -> str:
    lines = ["# Evaluation report", "", *_overview(report), "", "## Summary", "",
             "| metric | value | n | definition |", "|---|---|---|---|"]
    aggregates = report["aggregates"]
    for m in headline_metrics(report):
        n = _get(aggregates, m.n) if m.n else None
        lines.append(f"| {md(m.label)} | {_fmt(_get(aggregates, m.name), m.kind)} | {'' if n is None else n} | "
                     f"{md(m.definition)} |")
    lines += ["", "Outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(_outcomes(report).items())), ""]
    funnel = funnel_lines(aggregates.get("funnel"))
    if funnel:
        lines += ["## Funnel", "", *funnel, ""]
    lines += ["## Judges", "", JUDGES_NOTE, "", *judges_markdown(report["judges"])]
    for pair in aggregates.get("judge_disagreements", []):
        a, b = pair["judges"]
        lines += [f"The {a} and {b} judges disagree on {pair['disagree']} of the {pair['claims']} answer sentences "
                  "both decided" + (":" if pair["examples"] else "."), ""]
        lines += [f"- {e['id']}: {md(e['text'])} ({a} {e[a]}, {b} {e[b]})" for e in pair["examples"]]
        lines += [""] if pair["examples"] else []
    cases = worst_cases(report, worst)
    lines += ["## Worst cases", "", f"{len(cases)} of {sum(bool(q.get('failures')) for q in report['questions'])} "
              "questions with a failure, worst first.", ""]
    for rank, q in enumerate(cases, start=1):
        lines += [f"### {rank}. {q['id']} — {q['outcome']}", "", f"- **Question:** {md(q['question'])}"]
        for user, assistant in q.get("history", []):
            lines.append(f"- **Earlier turn:** user: {md(user)} / assistant: {md(assistant)}")
        if q.get("answer") is not None:
            lines.append(f"- **Answer:** {md(q['answer'])}")
        for c in q.get("citations", []):
            lines.append(f"  - [{c['marker']}] `{c['source']}` — “{md(c['quote'])}” (support {c['support']:.2f})")
        lines += [f"- **Reference:** {md(q['reference'])}", "- **What failed:**"]
        lines += [f"  - {md(f)}" for f in q["failures"]]
        lines.append("")
    unsupported = unsupported_table(report)
    lines += ["## Unsupported sentences", "", f"{len(unsupported[1])} sentence verdicts of \"unsupported\", "
              "all questions.", ""]
    if unsupported[1]:
        lines += [*md_table(unsupported), ""]
    lines += ["## Settings and versions", "", "```json",
              json.dumps({"settings": report["settings"], "versions": report["versions"], "model": report["model"]},
                         indent=2, sort_keys=True), "```", ""]
    return "\n".join(lines)


def _outcomes(report: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for q in report["questions"]:
        counts[q["outcome"]] = counts.get(q["outcome"], 0) + 1
    return counts


# --- charts and HTML ---------------------------------------------------------------------------


def _png(fig: Any) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def charts(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, base64 PNG) for each chart; matplotlib's Agg canvas, no pyplot state."""
    from matplotlib.figure import Figure

    out: list[tuple[str, str]] = []
    aggregates = report["aggregates"]
    scores = [(m.label, _get(aggregates, m.name)) for m in headline_metrics(report) if m.kind == "score"]
    scores = [(label, value) for label, value in scores if value is not None]
    if scores:
        fig = Figure(figsize=(7.5, 0.32 * len(scores) + 1.0), dpi=100)
        ax = fig.subplots()
        labels = [label for label, _ in scores][::-1]
        values = [value for _, value in scores][::-1]
        ax.barh(labels, values, color="#4c72b0")
        for y, value in enumerate(values):
            ax.text(min(value + 0.01, 0.93), y, f"{value:.2f}", va="center", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_title("Quality metrics (higher is better)")
        fig.tight_layout()
        out.append(("Quality metrics", _png(fig)))

    stages = [(s, [q["latency"][s] for q in report["questions"] if s in q.get("latency", {})])
              for s in ("retrieval", "evidence", "first_token", "total")]
    stages = [(s, v) for s, v in stages if v]
    if stages:
        fig = Figure(figsize=(7.5, 3.2), dpi=100)
        ax = fig.subplots()
        ax.boxplot([v for _, v in stages], orientation="horizontal", whis=(5, 95))
        ax.set_yticks(range(1, len(stages) + 1), [s.replace("_", " ") for s, _ in stages])
        ax.set_xlabel("seconds")
        ax.set_title("Latency per question (whiskers: 5th-95th percentile)")
        fig.tight_layout()
        out.append(("Latency", _png(fig)))

    answerable = [q for q in report["questions"] if q["answerable"] and q.get("correctness")]
    if answerable:
        colours = {"correct": "#55a868", "incomplete": "#dd8452", "false_refusal": "#c44e52"}
        fig = Figure(figsize=(max(7.5, 0.14 * len(answerable) + 1.5), 3.2), dpi=100)
        ax = fig.subplots()
        ax.bar([q["id"] for q in answerable], [q["correctness"]["correctness"] for q in answerable],
               color=[colours.get(q["outcome"], "#8172b2") for q in answerable])
        ax.set_ylim(0, 1)
        ax.tick_params(axis="x", labelrotation=90, labelsize=6)
        ax.set_title("Correctness per answerable question (green correct, orange incomplete, red refused)")
        fig.tight_layout()
        out.append(("Correctness per question", _png(fig)))

    measured = {name: _measurement(st) for name, st in sorted(report["judges"].items())}
    measured = {k: v for k, v in measured.items() if "per_kind" in v}
    if measured:
        kinds = sorted({k for m in measured.values() for k in m["per_kind"]})
        fig = Figure(figsize=(7.5, 3.4), dpi=100)
        ax = fig.subplots()
        width = 0.8 / len(measured)
        for i, (name, m) in enumerate(measured.items()):
            ax.bar([x + i * width for x in range(len(kinds))],
                   [m["per_kind"].get(k, {}).get("accuracy", 0) for k in kinds], width, label=name)
        ax.set_xticks([x + width * (len(measured) - 1) / 2 for x in range(len(kinds))], kinds,
                      rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
        ax.set_title("Judge accuracy per kind of labelled claim")
        fig.tight_layout()
        out.append(("Judges per kind", _png(fig)))
    return out


_CSS = """body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .5rem;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;white-space:nowrap}.case{border-left:4px solid #c44e52;
padding:.2rem 1rem;margin:1rem 0;background:#fafafa}.fail{color:#a00}blockquote{margin:.3rem 0;color:#444}
img{max-width:100%}pre{background:#f6f6f6;padding:1rem;overflow-x:auto}"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def html_table(table: Table) -> str:
    header, rows = table
    out = ["<table><tr>" + "".join(f"<th>{_e(c)}</th>" for c in header) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows]
    return "\n".join(out) + "</table>"


def render_html(report: dict[str, Any], worst: int = WORST_CASES) -> str:
    aggregates = report["aggregates"]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>Evaluation report</title>", f"<style>{_CSS}</style></head><body>", "<h1>Evaluation report</h1>",
             "<ul>" + "".join(f"<li>{_e(line[2:].replace('**', '').replace('`', ''))}</li>"
                              for line in _overview(report)) + "</ul>",
             "<h2>Summary</h2>", "<table><tr><th>metric</th><th>value</th><th>n</th><th>definition</th></tr>"]
    for m in headline_metrics(report):
        n = _get(aggregates, m.n) if m.n else None
        parts.append(f"<tr><td>{_e(m.label)}</td><td class='num'>{_e(_fmt(_get(aggregates, m.name), m.kind))}</td>"
                     f"<td class='num'>{'' if n is None else _e(n)}</td><td>{_e(m.definition)}</td></tr>")
    parts.append("</table>")
    parts.append("<p>Outcomes: " + _e(", ".join(f"{k} {v}" for k, v in sorted(_outcomes(report).items()))) + "</p>")
    funnel = aggregates.get("funnel")
    if funnel and funnel.get("key_facts"):
        parts.append("<h2>Funnel</h2>")
        parts.append(f"<pre>{_e(chr(10).join(funnel_lines(funnel)))}</pre>")
    for title, png in charts(report):
        parts.append(f"<h3>{_e(title)}</h3><img alt='{_e(title)}' src='data:image/png;base64,{png}'>")
    parts += ["<h2>Judges</h2>", f"<p>{_e(JUDGES_NOTE)}</p>", html_table(judge_table(report["judges"]))]
    kinds = kind_table(report["judges"])
    if kinds:
        parts += [f"<p>{_e(KINDS_NOTE)}</p>", html_table(kinds)]
    parts += [f"<p>{_e(note)}</p>" for note in weighting_notes(report["judges"])]
    cases = worst_cases(report, worst)
    parts.append(f"<h2>Worst cases</h2><p>{len(cases)} questions with a failure, worst first.</p>")
    for q in cases:
        parts.append(f"<div class='case'><h3>{_e(q['id'])} — {_e(q['outcome'])}</h3>")
        parts.append(f"<p><b>Question:</b> {_e(q['question'])}</p>")
        for user, assistant in q.get("history", []):
            parts.append(f"<p><b>Earlier turn:</b> user: {_e(user)} / assistant: {_e(assistant)}</p>")
        if q.get("answer") is not None:
            parts.append(f"<p><b>Answer:</b> {_e(q['answer'])}</p>")
        for c in q.get("citations", []):
            parts.append(f"<blockquote>[{_e(c['marker'])}] {_e(c['source'])}: “{_e(c['quote'])}” "
                         f"(support {c['support']:.2f})</blockquote>")
        parts.append(f"<p><b>Reference:</b> {_e(q['reference'])}</p><p><b>What failed:</b></p><ul>")
        parts += [f"<li class='fail'>{_e(f)}</li>" for f in q["failures"]]
        parts.append("</ul></div>")
    unsupported = unsupported_table(report)
    parts.append(f"<h2>Unsupported sentences</h2><p>{len(unsupported[1])} sentence verdicts of "
                 "&quot;unsupported&quot;, all questions.</p>")
    if unsupported[1]:
        parts.append(html_table(unsupported))
    meta = json.dumps({"settings": report["settings"], "versions": report["versions"], "model": report["model"]},
                      indent=2, sort_keys=True)
    parts += ["<h2>Settings and versions</h2>", f"<pre>{_e(meta)}</pre>", "</body></html>"]
    return "\n".join(parts)


# --- files --------------------------------------------------------------------------------------


def write_reports(report: dict[str, Any], out: Path) -> list[Path]:
    """report.json, report.md and report.html in ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "report.md", out / "report.html"]
    paths[0].write_text(json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    paths[1].write_text(render_markdown(report), encoding="utf-8")
    paths[2].write_text(render_html(report), encoding="utf-8")
    return paths


def write_ragas(answered: Sequence[Answered], path: Path) -> None:
    """JSON Lines in the RAGAS evaluation-dataset schema: user_input, retrieved_contexts, response, reference."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for a in answered:
            row = {
                "user_input": a.question.question,
                "retrieved_contexts": [p.text for p in a.answer.passages] if a.answer else [],
                "response": a.answer.answer if a.answer else "",
                "reference": a.question.reference_answer,
            }
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def load_report(path: Path) -> dict[str, Any]:
    """A report.json, given the file or the folder holding it."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RagError(f"Cannot read the report {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise RagError(f"{path} is not a JSON report: {exc}") from None
    if not isinstance(data, dict) or "aggregates" not in data or "questions" not in data:
        raise RagError(f"{path} is not a report.json written by `rag eval`.")
    return data


# --- compare ------------------------------------------------------------------------------------


def _kind_of(report: dict[str, Any], name: str) -> str:
    return next((m.kind for m in headline_metrics(report) if m.name == name), "score")


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Lines: each metric A -> B with its delta, then the questions whose outcome flipped."""
    va, vb = metric_values(a), metric_values(b)
    names = list(va) + [n for n in vb if n not in va]
    width = max(len(n) for n in names)
    lines = [f"A: {a['dataset']['path']} ({a['model']['backend']}, {a['created']})",
             f"B: {b['dataset']['path']} ({b['model']['backend']}, {b['created']})"]
    if a["dataset"]["sha256"] != b["dataset"]["sha256"]:
        lines.append("note: the two runs used different datasets")
    code_a, code_b = a.get("code", {}).get("sources_sha256"), b.get("code", {}).get("sources_sha256")
    if code_a != code_b:
        lines.append(f"note: the code differs (sources {code_a} -> {code_b})")
    changed = sorted(k for k in set(a["settings"]) | set(b["settings"])
                     if a["settings"].get(k) != b["settings"].get(k))
    if changed:
        lines.append("note: settings differ: " + ", ".join(
            f"{k} {a['settings'].get(k)!r} -> {b['settings'].get(k)!r}" for k in changed))
    lines.append("")
    for name in names:
        x, y = va.get(name), vb.get(name)
        kind = _kind_of(a if name in va else b, name)
        if x is None or y is None:
            delta = ""
        else:
            d = y - x
            delta = f"  ({'+' if d >= 0 else ''}{d:.0f})" if kind == "count" else f"  ({'+' if d >= 0 else ''}{d:.3f})"
            if d == 0:
                delta = "  (=)"
        lines.append(f"{name:<{width}}  {_fmt(x, kind):>8} -> {_fmt(y, kind):<8}{delta}")
    qa = {q["id"]: q for q in a["questions"]}
    qb = {q["id"]: q for q in b["questions"]}
    flips = []
    for qid in sorted(set(qa) | set(qb)):
        if qid not in qa or qid not in qb:
            flips.append(f"{qid}: only in {'A' if qid in qa else 'B'}")
            continue
        x, y = qa[qid], qb[qid]
        if x["outcome"] != y["outcome"]:
            flips.append(f"{qid}: {x['outcome']} -> {y['outcome']}  ({x['question']})")
        for judge in sorted(set(x.get("faithfulness") or {}) & set(y.get("faithfulness") or {})):
            fx = _faithful(x["faithfulness"][judge])
            fy = _faithful(y["faithfulness"][judge])
            if fx is not None and fy is not None and fx != fy:
                flips.append(f"{qid}: {'faithful' if fx else 'unfaithful'} -> {'faithful' if fy else 'unfaithful'} "
                             f"({judge} judge)")
    lines += compare_funnels(a["aggregates"].get("funnel"), b["aggregates"].get("funnel"))
    lines += ["", f"{len(flips)} question outcome(s) changed" + (":" if flips else "."), *flips]
    return lines



def _faithful(result: dict[str, Any]) -> bool | None:
    verdicts = [c["supported"] for c in result["claims"] if c["supported"] is not None]
    return all(verdicts) if verdicts else None
