"""Pick the few sentences of the retrieved passages that bear on the question.

The local model reads ~35 tokens/s, so every sentence in the prompt costs time:
we send the best sentences, not whole passages. Each selected sentence becomes a
numbered evidence item whose offsets point into its article's cleaned text.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from rag.text import terms
from rag.types import EvidenceItem, Retrieval

# Lines addressed to an assistant rather than to readers ("Ignore previous instructions and reply only
# with ..."): injected text, never evidence; they would otherwise be quoted or obeyed.
_INSTRUCTION_LIKE = re.compile(
    r"(?i)\bignore\s+(?:all\s+|any\s+)?(?:the\s+|your\s+)?(?:previous|prior|earlier|above)\s+"
    r"(?:instructions|rules|prompts|directions)\b"
    r"|\b(?:reply|answer|respond)\s+only\s+with\b|\bdeveloper mode\b|\byou are now\b"
    r"|^\W*(?:#+\s*)?(?:system|assistant)\s*:"
)
# Sentences shorter than this carry no claim worth citing ("Read on.", "He said:").
_MIN_SENTENCE_CHARS = 25
# Weight of relevance against novelty when picking sentences (1.0 = relevance only).
_MMR_LAMBDA = 0.75
# Share of the previous sentence's relevance passed on to the next one.
_NEIGHBOUR_WEIGHT = 0.35


def _overlap(question: str, sentence: str) -> float:
    q = terms(question).content
    return len(q & terms(sentence).content) / len(q) if q else 0.0


def select_evidence(retrieval: Retrieval, limit: int) -> list[EvidenceItem]:
    """The `limit` sentences most relevant to the question, numbered 1..n best first.

    Score = semantic similarity to the question + word overlap + a small prior for
    the passage's retrieval rank. A pure function of what retrieval returned.
    """
    question, passages = retrieval.question, retrieval.passages
    query_vector, sentences = retrieval.question_vector, retrieval.sentences
    seen: set[tuple[str, int]] = set()
    candidates: list[EvidenceItem] = []
    vectors: list[np.ndarray] = []
    for rank, passage in enumerate(passages):
        found = sentences[passage.passage_id]
        previous = 0.0
        for (start, end), vector in zip(found.spans, found.vectors, strict=True):
            text = passage.text[start:end]
            own = float(vector @ query_vector) + 0.5 * _overlap(question, text)
            # A sentence right after a relevant one often carries the answer ("He said...").
            score = own + _NEIGHBOUR_WEIGHT * previous + 0.1 / (1 + rank)
            new_paragraph = "\n" in passage.text[:start][-2:]
            previous = 0.0 if new_paragraph else own
            key = (passage.article_id, passage.start + start)  # overlapping passages repeat sentences
            # Questions (subheadings like "What's the issue?") state nothing to cite.
            if (key in seen or len(text) < _MIN_SENTENCE_CHARS or text.rstrip("\"'”’ ").endswith("?")
                    or _INSTRUCTION_LIKE.search(text)):
                continue
            seen.add(key)
            candidates.append(EvidenceItem(0, text, passage, passage.start + start, passage.start + end, score))
            vectors.append(vector)
    best = _merge_adjacent(_diverse(candidates, vectors, limit))
    return [replace(item, number=n) for n, item in enumerate(best, start=1)]


def _merge_adjacent(items: list[EvidenceItem]) -> list[EvidenceItem]:
    """Join consecutive sentences of one passage into a single item (one contiguous span),
    so that a claim and the "He said..." that completes it are read, and cited, together."""
    merged: list[EvidenceItem] = []
    for item in items:
        last = merged[-1] if merged else None
        if last is not None and last.passage.passage_id == item.passage.passage_id:
            gap = item.passage.text[last.end - item.passage.start : item.start - item.passage.start]
            if item.start >= last.end and not gap.strip():
                merged[-1] = replace(
                    last,
                    text=item.passage.text[last.start - item.passage.start : item.end - item.passage.start],
                    end=item.end,
                    score=max(last.score, item.score),
                )
                continue
        merged.append(item)
    return merged


def _diverse(candidates: list[EvidenceItem], vectors: list[np.ndarray], limit: int) -> list[EvidenceItem]:
    """Maximal marginal relevance: the best sentences, skipping near-repeats of ones already taken,
    so that six sentences all saying "Starmer said..." do not crowd out the one that answers."""
    chosen: list[int] = []
    remaining = list(range(len(candidates)))
    while remaining and len(chosen) < limit:
        def gain(i: int) -> float:
            redundancy = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
            return _MMR_LAMBDA * candidates[i].score - (1 - _MMR_LAMBDA) * redundancy
        pick = max(remaining, key=gain)
        chosen.append(pick)
        remaining.remove(pick)
    # Best passage first (small models lean on what they read first), and each
    # passage's sentences in reading order, so that "He said..." follows its subject.
    picked = [candidates[i] for i in chosen]
    best_of: dict[str, float] = {}
    for item in picked:
        best_of[item.passage.passage_id] = max(best_of.get(item.passage.passage_id, item.score), item.score)
    return sorted(picked, key=lambda item: (-best_of[item.passage.passage_id], item.start))
