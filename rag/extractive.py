"""Answers that quote the evidence: the best sentences, each cited (extract), and the same
sentences once the LLM has judged that they answer the question (select).

Quoting is instant and always grounded (the answer *is* the cited text); it is also
the fallback when the configured LLM cannot be reached or loaded. A small model is
a better judge than writer, so the select strategy asks it one yes/no question,
"do these sentences state the answer?", reads P(Yes) from one token's
log-probabilities (a prompt of ~150 new tokens, no answer to generate), and
combines it with retrieval signals into a confidence that decides whether to
answer or refuse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rag.citations import VerifiedAnswer, cite_items
from rag.evidence import EvidenceItem
from rag.support import missing_names, names, terms

# A span joins the answer if it scores within this margin of the best one (tuned on the dev
# questions: 0.15 quoted ~1.6 spans and missed a third of the key facts beyond the seeds).
MARGIN = 0.35
# The gate reads the best quoted spans up to about this many characters (~180 tokens, ~3.5 s on two
# cores): prompt tokens are the whole latency budget of the select strategy.
GATE_CHARS = 800


def choose_quotes(items: Sequence[EvidenceItem], limit: int, margin: float = MARGIN) -> list[EvidenceItem]:
    """Up to ``limit`` of the best-scoring evidence spans within ``margin`` of the best, in reading order."""
    if not items:
        return []
    best = max(item.score for item in items)
    chosen = [item for item in sorted(items, key=lambda item: -item.score)[:limit] if item.score >= best - margin]
    return sorted(chosen, key=lambda item: item.number)


def extractive_answer(items: Sequence[EvidenceItem], limit: int = 4) -> VerifiedAnswer:
    """The best evidence spans, quoted and cited (a refusal when there is no evidence)."""
    chosen = choose_quotes(items, limit)
    return cite_items(chosen) if chosen else VerifiedAnswer(text="", refused=True)


def gate_evidence(quotes: Sequence[EvidenceItem], budget: int = GATE_CHARS) -> list[str]:
    """The quoted spans the gate reads: best first, whole spans while they fit ``budget`` (the best always)."""
    shown: list[str] = []
    used = 0
    for item in sorted(quotes, key=lambda item: -item.score):
        text = " ".join(item.text.split())
        if shown and used + len(text) > budget:
            continue
        if not shown and len(text) > budget:
            text = text[:budget].rsplit(" ", 1)[0] + " …"
        shown.append(text)
        used += len(text)
    return shown


@dataclass(frozen=True)
class Signals:
    """What the select strategy knows about an answer before giving it, each 0..1."""

    p_yes: float  # the LLM's P(Yes) that the quoted sentences state the answer
    relevance: float  # cosine similarity of the question and the best passage
    name_gap: float  # share of the question's names that the quoted spans' passages never mention
    term_coverage: float  # share of the question's content words found in the quoted spans

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.__dict__.items()}


def signals(question: str, quotes: Sequence[EvidenceItem], relevance: float, p_yes: float) -> Signals:
    wanted = names(question)
    context = "\n".join(dict.fromkeys(f"{item.passage.title}\n{item.passage.text}" for item in quotes))
    gap = len(missing_names(question, context)) / len(wanted) if wanted else 0.0
    asked = terms(question).content
    found = terms(" ".join(item.text for item in quotes)).content
    coverage = len(asked & found) / len(asked) if asked else 1.0
    return Signals(p_yes=p_yes, relevance=relevance, name_gap=gap, term_coverage=coverage)


# Logistic weights over the signals (logit of P(Yes) first), fitted on the dev halves of the
# seeds and BBC question sets by `python -m evals.calibrate` (see evals/README.md).
# Fitted with at most 4 % of the dev answerable questions refused: the confidence is mostly P(Yes)
# with the threshold moved (P(Yes) ~0.3 at confidence 0.5); the other signals add little.
WEIGHTS = {"bias": 0.5254, "p_yes": 1.4016, "relevance": -0.189, "name_gap": 0.0503, "term_coverage": 0.2947}


def confidence(s: Signals, weights: dict[str, float] = WEIGHTS) -> float:
    """Confidence (0..1) that the quoted sentences answer the question."""
    p = min(max(s.p_yes, 1e-4), 1 - 1e-4)
    z = (
        weights["bias"]
        + weights["p_yes"] * math.log(p / (1 - p))
        + weights["relevance"] * s.relevance
        + weights["name_gap"] * s.name_gap
        + weights["term_coverage"] * s.term_coverage
    )
    return 1 / (1 + math.exp(-z))
