"""Evaluation metrics as pure functions (no model, no I/O).

Definitions (the same words appear in the reports):

* **recall@k** — share of a question's expected ``sources`` (file-name prefixes
  such as ``"000"``) found among the file names of the k retrieved passages.
* **MRR** — mean over questions of 1 / rank of the first retrieved passage from
  an expected source (0 when none is retrieved).
* **key-fact recall** — share of a question's key facts the answer conveys; a
  fact is conveyed when at least 80 % of its content words (lower-cased, stop
  words removed, stemmed as in :func:`rag.support.terms`; numbers count as words)
  occur in the answer.
* **token F1** — SQuAD-style F1 of the answer's and the reference's tokens after
  lower-casing and removing punctuation and the articles a/an/the.
* **correctness** — mean of key-fact recall and semantic similarity (MiniLM
  cosine of answer and reference, clipped to 0..1): one measures the facts, the
  other the overall meaning.
* **refusal precision / recall** — unanswerable questions are the positives and
  refusing is the positive prediction.
* **faithfulness** — share of an answer's sentences that a judge finds supported
  by the passages the sentence cites (averaged over answers); **citation
  precision** — share of citations whose quote supports the sentence citing it;
  **citation recall** — share of sentences with at least one supporting citation.
* **latency** — median and 95th percentile (linear interpolation) of per-question seconds.

Undefined values (no question to average over) are ``None``, never 0.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.support import terms

KEY_FACT_MIN_SHARE = 0.8
"""A key fact is conveyed when at least this share of its content words is in the answer."""

_MARKER = re.compile(r"\s*\[\s*\d+(?:\s*[,;\-–]\s*\d+)*\s*\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


# --- helpers ----------------------------------------------------------------------


def mean(values: Iterable[float]) -> float | None:
    """Arithmetic mean, or None for no values."""
    items = list(values)
    return math.fsum(items) / len(items) if items else None


def share(flags: Iterable[bool]) -> float | None:
    """Share of true flags, or None for no flags."""
    items = list(flags)
    return sum(items) / len(items) if items else None


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between order statistics (numpy's default)."""
    items = sorted(values)
    if not items:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    position = (len(items) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(items) - 1)
    return items[low] + (items[high] - items[low]) * (position - low)


def median(values: Iterable[float]) -> float | None:
    return percentile(values, 50)


def strip_markers(text: str) -> str:
    """Answer text without its [n] citation markers."""
    text = _MARKER.sub("", text)
    return re.sub(r"\s+([.,;:!?])", r"\1", " ".join(text.split()))


# --- retrieval --------------------------------------------------------------------------


def source_matches(prefix: str, source: str) -> bool:
    """True when the file name of ``source`` (a corpus-relative path) starts with ``prefix`` as a whole token.

    ``"000"`` matches ``"000_f14baaa9ae4bf647.txt"`` and ``"news/000.txt"`` but not ``"0001_x.txt"``.
    """
    name = source.replace("\\", "/").rsplit("/", 1)[-1]
    if not name.startswith(prefix):
        return False
    rest = name[len(prefix) :]
    return not rest or not rest[0].isalnum()


def recall_at_k(sources: Sequence[str], retrieved: Sequence[str]) -> float | None:
    """Share of expected source prefixes found among the retrieved passages' sources (None without sources)."""
    if not sources:
        return None
    found = sum(any(source_matches(prefix, name) for name in retrieved) for prefix in sources)
    return found / len(sources)


def reciprocal_rank(sources: Sequence[str], retrieved: Sequence[str]) -> float | None:
    """1 / rank of the first retrieved passage from any expected source; 0 if none (None without sources)."""
    if not sources:
        return None
    for rank, name in enumerate(retrieved, start=1):
        if any(source_matches(prefix, name) for prefix in sources):
            return 1.0 / rank
    return 0.0


# --- correctness --------------------------------------------------------------------------


def fact_words(text: str) -> frozenset[str]:
    """Content words of a text: lower-cased, stop words removed, stemmed; numbers kept."""
    found = terms(text)
    return found.content | found.numbers


def key_fact_share(fact: str, answer: str) -> float:
    """Share of the fact's content words that occur in the answer (a fact of stop words only: literal match)."""
    wanted = fact_words(fact)
    if not wanted:
        return float(fact.strip().lower() in answer.lower())
    return len(wanted & fact_words(answer)) / len(wanted)


def key_fact_conveyed(fact: str, answer: str, min_share: float = KEY_FACT_MIN_SHARE) -> bool:
    return key_fact_share(fact, answer) >= min_share


def key_fact_recall(facts: Sequence[str], answer: str, min_share: float = KEY_FACT_MIN_SHARE) -> float | None:
    """Share of key facts conveyed by the answer (None without key facts)."""
    if not facts:
        return None
    return sum(key_fact_conveyed(fact, answer, min_share) for fact in facts) / len(facts)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower-case, drop punctuation (ASCII and Unicode) and articles, squeeze spaces."""
    text = text.lower()
    text = "".join(" " if ch in string.punctuation or unicodedata.category(ch).startswith("P") else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 between two texts (1.0 when both normalise to nothing)."""
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def correctness(key_facts: float | None, similarity: float) -> float:
    """Mean of key-fact recall and semantic similarity (similarity alone when there are no key facts)."""
    similarity = max(0.0, min(1.0, similarity))
    return similarity if key_facts is None else (key_facts + similarity) / 2


# --- binary decisions: refusals and judges ---------------------------------------------------


@dataclass(frozen=True)
class Confusion:
    """Counts of a binary decision; "positive" is whatever the caller says it is."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @classmethod
    def of(cls, pairs: Iterable[tuple[bool, bool]]) -> Confusion:
        """From (actual, predicted) pairs."""
        counts = Counter((bool(a), bool(p)) for a, p in pairs)
        return cls(counts[True, True], counts[False, True], counts[True, False], counts[False, False])

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def specificity(self) -> float | None:
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p is not None and r is not None and p + r else None

    @property
    def accuracy(self) -> float | None:
        return (self.tp + self.tn) / self.n if self.n else None

    @property
    def balanced_accuracy(self) -> float | None:
        """Mean of recall and specificity; either alone when the other class is absent."""
        parts = [x for x in (self.recall, self.specificity) if x is not None]
        return sum(parts) / len(parts) if parts else None


def refusal_confusion(outcomes: Iterable[tuple[bool, bool]]) -> Confusion:
    """From (answerable, refused) pairs: unanswerable questions are the positives, refusing the positive call.

    An answerable question refused is a false positive (a false refusal); an
    unanswerable one answered is a false negative (a false answer).
    """
    return Confusion.of((not answerable, refused) for answerable, refused in outcomes)


def best_threshold(labels: Sequence[bool], scores: Sequence[float]) -> tuple[float, float]:
    """The cut-off t (predict True when score >= t) with the highest balanced accuracy, and that accuracy.

    Candidates are the distinct scores; ties go to the threshold nearest 0.5,
    then the lower one, so the result is deterministic. O(n log n).
    """
    if len(labels) != len(scores):
        raise ValueError("labels and scores differ in length")
    if not scores:
        raise ValueError("no scores")
    pairs = sorted(zip(scores, labels, strict=True))
    positives = sum(bool(label) for label in labels)
    negatives = len(labels) - positives
    below_true = below_false = 0  # items scoring under the current candidate: predicted False
    best: tuple[float, float, float] | None = None  # (accuracy, -distance to 0.5, -threshold)
    i = 0
    while i < len(pairs):
        t = pairs[i][0]
        conf = Confusion(tp=positives - below_true, fp=negatives - below_false, fn=below_true, tn=below_false)
        key = (round(conf.balanced_accuracy or 0.0, 9), -abs(t - 0.5), -t)
        if best is None or key > best:
            best = key
        while i < len(pairs) and pairs[i][0] == t:
            below_true += bool(pairs[i][1])
            below_false += not pairs[i][1]
            i += 1
    assert best is not None
    return -best[2], best[0]
