"""The no-LLM answer: the evidence sentences that best answer the question, each cited.

Instant, always grounded (the answer *is* the cited text), and the fallback when
the configured LLM cannot be reached or loaded.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.citations import VerifiedAnswer, cite_items
from rag.evidence import EvidenceItem

# A sentence joins the answer if it scores within this margin of the best one.
_MARGIN = 0.15


def extractive_answer(items: Sequence[EvidenceItem], max_sentences: int = 3) -> VerifiedAnswer:
    """Up to max_sentences of the best-scoring evidence, in reading order."""
    if not items:
        return VerifiedAnswer(text="", refused=True)
    best = max(item.score for item in items)
    chosen = sorted(items, key=lambda item: -item.score)[:max_sentences]
    chosen = [item for item in chosen if item.score >= best - _MARGIN]
    return cite_items(sorted(chosen, key=lambda item: item.number))
