"""Pick the few sentences of the retrieved passages that bear on the question.

The local model reads ~35 tokens/s, so every sentence in the prompt costs time:
we send the best sentences, not whole passages. Each selected sentence becomes a
numbered evidence item whose offsets point into its article's cleaned text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rag.support import terms
from rag.types import RetrievedPassage

if TYPE_CHECKING:
    from rag.retrieve import HybridSearch

# Sentences shorter than this carry no claim worth citing ("Read on.", "He said:").
_MIN_SENTENCE_CHARS = 25


@dataclass(frozen=True)
class EvidenceItem:
    """One numbered sentence shown to the model."""

    number: int
    text: str
    passage: RetrievedPassage
    start: int  # offsets in the article's cleaned text
    end: int
    score: float


def _overlap(question: str, sentence: str) -> float:
    q = terms(question).content
    return len(q & terms(sentence).content) / len(q) if q else 0.0


def select_evidence(
    question: str, passages: Sequence[RetrievedPassage], search: HybridSearch, limit: int
) -> list[EvidenceItem]:
    """The `limit` sentences most relevant to the question, numbered 1..n in reading order.

    Score = semantic similarity to the question + word overlap + a small prior for
    the passage's retrieval rank. Sentence vectors come from retrieval's cache.
    """
    query_vector = search.embedder.encode([question])[0]
    sentences = search.sentence_vectors([(p.passage_id, p.text) for p in passages])
    seen: set[tuple[str, int]] = set()
    candidates: list[EvidenceItem] = []
    for rank, passage in enumerate(passages):
        found = sentences[passage.passage_id]
        for (start, end), vector in zip(found.spans, found.vectors, strict=True):
            text = passage.text[start:end]
            key = (passage.article_id, passage.start + start)  # overlapping passages repeat sentences
            if key in seen or len(text) < _MIN_SENTENCE_CHARS:
                continue
            seen.add(key)
            score = float(vector @ query_vector) + 0.5 * _overlap(question, text) + 0.1 / (1 + rank)
            candidates.append(EvidenceItem(0, text, passage, passage.start + start, passage.start + end, score))
    best = sorted(candidates, key=lambda item: -item.score)[:limit]
    best.sort(key=lambda item: (passages.index(item.passage), item.start))
    return [replace(item, number=n) for n, item in enumerate(best, start=1)]
