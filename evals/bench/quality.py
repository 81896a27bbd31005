"""Quality next to latency: the same scoring for our answers and the baseline's.

The benchmark needs a like-for-like check that the faster pipeline does not
answer worse. When the eval suite is importable it uses its own scorer,
``evals.quality.runner.score_correctness`` (key-fact recall with the suite's 80 % rule,
MiniLM similarity to the reference answer, and their mean, "correctness"), on
answers wrapped as :class:`rag.types.Answer`. Otherwise it falls back to a
simple documented rule:

* key-fact recall: a fact counts as conveyed when at least 80 % of its stemmed
  content words (``rag.text.terms``) are in the answer; a refusal conveys none.

Both ways count refusals: answerable questions refused (false refusals) and
unanswerable questions refused (correct refusals). Our answers say so in
``Answer.refused``; a baseline answer counts as a refusal when it says it does
not know (regex below), which is how the tutorial prompt asks it to refuse.
"""

from __future__ import annotations

import logging
import re
import statistics
from collections.abc import Sequence
from typing import Any

from evals.quality.dataset import EvalQuestion
from rag.settings import Settings
from rag.text import terms

log = logging.getLogger(__name__)

FACT_WORD_SHARE = 0.8
_BASELINE_REFUSAL = re.compile(
    r"\b(?:i\s+)?(?:do\s*n[o']t|does\s*n[o']t|did\s*n[o']t|cannot|can't)\s+(?:know|say|find|answer|determine|provide|mention)"
    r"|\bno (?:information|mention)\b|\bnot (?:mentioned|provided|specified|stated|covered)\b"
    r"|\bdoes not (?:contain|include)\b|\bis not (?:clear|known)\b",
    re.IGNORECASE,
)


def fact_conveyed(fact: str, answer: str) -> bool:
    """The fallback rule: >= 80 % of the fact's stemmed content words occur in the answer."""
    wanted = terms(fact).content | terms(fact).numbers
    if not wanted:
        return fact.lower() in answer.lower()
    have = terms(answer).content | terms(answer).numbers
    return len(wanted & have) / len(wanted) >= FACT_WORD_SHARE - 1e-9


def baseline_refused(answer: str) -> bool:
    return bool(_BASELINE_REFUSAL.search(answer)) or not answer.strip()


def _refused(run: Any) -> bool:
    return bool(run.refused) if run.refused is not None else baseline_refused(run.answer)


def _refusals(questions: dict[str, EvalQuestion], runs: Sequence[Any]) -> dict[str, int]:
    counts = {"answerable": 0, "false_refusals": 0, "unanswerable": 0, "correct_refusals": 0}
    for run in runs:
        q = questions.get(run.id)
        if q is None:
            continue
        if q.answerable:
            counts["answerable"] += 1
            counts["false_refusals"] += int(_refused(run))
        else:
            counts["unanswerable"] += 1
            counts["correct_refusals"] += int(_refused(run))
    return counts


def _with_eval_suite(questions: dict[str, EvalQuestion], runs: Sequence[Any], settings: Settings) -> dict[str, Any]:
    from evals.quality.runner import Answered, score_correctness
    from rag.types import Answer

    answered = [
        Answered(questions[run.id], Answer(question=questions[run.id].question,
                                           standalone_question=questions[run.id].question, answer=run.answer,
                                           refused=_refused(run), backend=run.pipeline))
        for run in runs if run.id in questions
    ]
    scored = score_correctness(answered, settings)

    def mean(key: str) -> float | None:
        values = [row[key] for row in scored.values() if row.get(key) is not None]
        return statistics.fmean(values) if values else None

    return {
        "method": "evals.quality.runner.score_correctness (the eval suite's key-fact recall, similarity, correctness)",
        "key_fact_recall": mean("key_fact_recall"),
        "semantic_similarity": mean("semantic_similarity"),
        "correctness": mean("correctness"),
    }


def _fallback(questions: dict[str, EvalQuestion], runs: Sequence[Any]) -> dict[str, Any]:
    recalls = []
    for run in runs:
        q = questions.get(run.id)
        if q is None or not q.answerable or not q.key_facts:
            continue
        conveyed = 0 if _refused(run) else sum(fact_conveyed(f, run.answer) for f in q.key_facts)
        recalls.append(conveyed / len(q.key_facts))
    return {
        "method": "evals/bench/quality.py fallback (key fact conveyed when >= 80 % of its stemmed words are in the answer)",
        "key_fact_recall": statistics.fmean(recalls) if recalls else None,
        "semantic_similarity": None,
        "correctness": None,
    }


def score(questions: Sequence[EvalQuestion], runs: Sequence[Any], settings: Settings | None = None) -> dict[str, Any]:
    """Quality of runs (AnswerRun-like: id, answer, refused or None, pipeline), with refusal counts."""
    by_id = {q.id: q for q in questions}
    result: dict[str, Any] | None = None
    if settings is not None:
        try:
            result = _with_eval_suite(by_id, runs, settings)
        except (ImportError, AttributeError, TypeError, KeyError) as exc:  # the suite's API may move
            log.warning("eval suite scorer unavailable (%s); using the fallback rule", exc)
    if result is None:
        result = _fallback(by_id, runs)
    return {**result, **_refusals(by_id, runs)}
