"""Where answers lose their facts: a stage-by-stage funnel.

For every answerable question, each key fact is looked for (by the key-fact rule of
:func:`evals.quality.metrics.fact_conveyed`) in what each stage handed on:

1. **retrieved** — the retrieved passages;
2. **evidence** — the evidence sentences the answer was made from;
3. **draft** — the answer before its last check: the model's raw text (generate)
   or the quoted sentences (select; extract has no check, so draft = answer);
4. **answer** — the answer the user sees (nothing when refused).

A fact present at one stage and absent at the next was lost by that step:
retrieval, evidence selection, the model, or the last check (verification or the
select gate). For every unanswerable question the funnel records the stage that
refused it, or that it got through every stage (a false answer). Pure functions
of the report's per-question records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evals.quality import metrics
from rag.text import plain_answer

if TYPE_CHECKING:
    from evals.quality.dataset import EvalQuestion
    from rag.types import Answer

STAGES = ("retrieved", "evidence", "draft", "answer")
LOSSES = {"retrieved": "retrieval", "evidence": "evidence selection", "draft": "model", "answer": "last check"}
REFUSAL_STAGES = ("relevance", "names", "gate", "check", "model", "verification")


def question_funnel(q: EvalQuestion, answer: Answer) -> dict[str, Any]:
    """For an answerable question, each key fact's presence at each stage; for any, the refusing stage."""
    out: dict[str, Any] = {"refused_at": answer.refused_at if answer.refused else None}
    if not q.answerable or not q.key_facts:
        return out
    final = "" if answer.refused else plain_answer(answer.answer)
    texts = {
        "retrieved": "\n".join(p.text for p in answer.passages),
        "evidence": "\n".join(answer.evidence),
        "draft": plain_answer(answer.draft) if answer.draft is not None else final,
        "answer": final,
    }
    out["facts"] = [
        {"fact": metrics.fact_label(fact), **{stage: metrics.fact_conveyed(fact, texts[stage]) for stage in STAGES}}
        for fact in q.key_facts
    ]
    return out


def aggregate_funnel(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Share of key facts present at each stage (pooled over answerable questions), and refusals by stage."""
    facts = [f for r in records if r.get("funnel") for f in r["funnel"].get("facts", [])]
    present = {stage: metrics.share(f[stage] for f in facts) for stage in STAGES}
    refused: dict[str, dict[str, int]] = {"answerable": {}, "unanswerable": {}}
    for r in records:
        funnel = r.get("funnel")
        if not funnel:
            continue
        group = refused["answerable" if r["answerable"] else "unanswerable"]
        stage = funnel["refused_at"] or "answered"
        group[stage] = group.get(stage, 0) + 1
    return {"key_facts": len(facts), "present": {k: _r(v) for k, v in present.items()}, "refused_at": refused}


def funnel_lines(funnel: dict[str, Any] | None) -> list[str]:
    """The funnel as two Markdown tables."""
    if not funnel or not funnel.get("key_facts"):
        return []
    present = funnel["present"]
    lines = [f"Key facts of the answerable questions ({funnel['key_facts']}), present at each stage "
             "(a loss is attributed to the step that dropped it):", "",
             "| stage | key facts present | lost by |", "|---|---|---|"]
    previous = 1.0
    for stage in STAGES:
        value = present[stage]
        lost = "" if value is None else f"{LOSSES[stage]}: {previous - value:+.3f}".replace("+", "−", 1)
        lines.append(f"| {stage} | {_fmt(value)} | {lost} |")
        previous = value if value is not None else previous
    lines += ["", "Where each question ended (refused at a stage, or answered):", "",
              "| | " + " | ".join((*REFUSAL_STAGES, "answered")) + " |",
              "|---|" + "---|" * (len(REFUSAL_STAGES) + 1)]
    for group in ("answerable", "unanswerable"):
        counts = funnel["refused_at"].get(group, {})
        lines.append(f"| {group} | " + " | ".join(str(counts.get(s, 0)) for s in (*REFUSAL_STAGES, "answered")) + " |")
    return lines


def compare_funnels(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[str]:
    """Funnel stage by stage, A -> B, for `rag eval compare`."""
    if not a or not b:
        return []
    lines = ["", "funnel (key facts present):"]
    for stage in STAGES:
        x, y = a["present"].get(stage), b["present"].get(stage)
        delta = "" if x is None or y is None else f"  ({y - x:+.3f})"
        lines.append(f"  {stage:<10} {_fmt(x):>6} -> {_fmt(y):<6}{delta}")
    for group in ("answerable", "unanswerable"):
        xa, yb = a["refused_at"].get(group, {}), b["refused_at"].get(group, {})
        stages = [s for s in (*REFUSAL_STAGES, "answered") if xa.get(s, 0) or yb.get(s, 0)]
        lines.append(f"  {group}: " + ", ".join(f"{s} {xa.get(s, 0)} -> {yb.get(s, 0)}" for s in stages))
    return lines


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
