"""Evaluation metrics as pure functions (no model, no I/O).

Definitions (the same words appear in the reports):

* **recall@k** — share of a question's expected ``sources`` found among the k
  retrieved passages (a source names an article as :func:`source_matches`
  reads it); for a question with ``reference_contexts`` and no sources, the
  share of its contexts found in a retrieved passage (:func:`context_found`).
* **MRR** — mean over questions of 1 / rank of the first retrieved passage from
  an expected source, or holding a reference context (0 when none is retrieved).
* **key-fact recall** — share of a question's key facts the answer conveys; a
  fact is conveyed when at least 80 % of its content words (lower-cased, stop
  words removed, stemmed as in :func:`rag.text.terms`; numbers count as words)
  occur in the answer. A key fact given as a group of alternative phrases is
  conveyed when any one of them is.
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from rag.text import terms

KEY_FACT_MIN_SHARE = 0.8
"""A key fact is conveyed when at least this share of its content words is in the answer."""
CONTEXT_MIN_SHARE = 0.8
"""A reference context is found in a passage holding at least this share of the context's content words."""

Retrieved = str | tuple[str, str]
"""A retrieved passage as the retrieval metrics see it: its ``source``, or its ``(source, article_id)``."""

_T = TypeVar("_T")
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


# --- retrieval --------------------------------------------------------------------------


def source_matches(expected: str, source: str, article_id: str | None = None) -> bool:
    """True when ``expected``, a user's name for an article, names the one at ``source`` with id ``article_id``.

    ``source`` is a corpus-relative path. ``expected`` may be the article id, or the
    path's last components ("bbc/politics/0512.txt", "0512.txt") whose file name
    may be cut short at a "_" or "." (a seed-style prefix or a stem): "000" matches
    "000_f14baaa9ae4bf647.txt" and "news/000.txt" but not "0001_x.txt", and "0512"
    not the scale-out copy "0512-copy001.txt".
    """
    if article_id is not None and expected == article_id:
        return True
    parts = [part for part in expected.replace("\\", "/").split("/") if part not in ("", ".")]
    *source_folders, name = source.replace("\\", "/").split("/")
    if not parts:
        return False
    *folders, stem = parts
    if folders and source_folders[-len(folders) :] != folders:
        return False
    if not name.startswith(stem):
        return False
    rest = name[len(stem) :]
    return not rest or rest[0] in "_."


def _matches(expected: str, passage: Retrieved) -> bool:
    return source_matches(expected, passage) if isinstance(passage, str) else source_matches(expected, *passage)


def _found(expected: Sequence[str], retrieved: Sequence[_T], match: Callable[[str, _T], bool]) -> list[bool]:
    return [any(match(item, passage) for passage in retrieved) for item in expected]


def _first_rank(expected: Sequence[str], retrieved: Sequence[_T], match: Callable[[str, _T], bool]) -> float | None:
    if not expected:
        return None
    for rank, passage in enumerate(retrieved, start=1):
        if any(match(item, passage) for item in expected):
            return 1.0 / rank
    return 0.0


def recall_at_k(sources: Sequence[str], retrieved: Sequence[Retrieved]) -> float | None:
    """Share of expected sources found among the retrieved passages (None without sources)."""
    return share(_found(sources, retrieved, _matches))


def reciprocal_rank(sources: Sequence[str], retrieved: Sequence[Retrieved]) -> float | None:
    """1 / rank of the first retrieved passage from any expected source; 0 if none (None without sources)."""
    return _first_rank(sources, retrieved, _matches)


def missing_sources(sources: Sequence[str], retrieved: Sequence[Retrieved]) -> list[str]:
    """The expected sources that no retrieved passage comes from, in the dataset's order."""
    return [source for source, found in zip(sources, _found(sources, retrieved, _matches), strict=True) if not found]


def context_found(context: str, passage: str) -> bool:
    """True when a retrieved passage holds a reference context (RAGAS ``reference_contexts``).

    Either text contains the other once lower-cased with runs of spaces squeezed
    (contexts and passages are cut from the same articles, but not at the same
    places), or the passage has at least 80 % of the context's content words (as
    for key facts), which forgives a little reformatting.
    """
    a, b = _squeezed(context), _squeezed(passage)
    if a and b and (a in b or b in a):
        return True
    return _word_share(context, passage) >= CONTEXT_MIN_SHARE


def context_recall(contexts: Sequence[str], passages: Sequence[str]) -> float | None:
    """Share of reference contexts found in at least one retrieved passage's text (None without contexts)."""
    return share(_found(contexts, passages, context_found))


def context_reciprocal_rank(contexts: Sequence[str], passages: Sequence[str]) -> float | None:
    """1 / rank of the first retrieved passage holding any reference context; 0 if none (None without contexts)."""
    return _first_rank(contexts, passages, context_found)


def missing_contexts(contexts: Sequence[str], passages: Sequence[str]) -> list[str]:
    """The reference contexts that no retrieved passage holds, in the dataset's order."""
    return [context for context, found in zip(contexts, _found(contexts, passages, context_found), strict=True)
            if not found]


def _squeezed(text: str) -> str:
    return " ".join(text.casefold().split())


# --- correctness --------------------------------------------------------------------------


def fact_words(text: str) -> frozenset[str]:
    """Content words of a text: lower-cased, stop words removed, stemmed; numbers kept."""
    found = terms(text)
    return found.content | found.numbers


def _word_share(phrase: str, text: str) -> float:
    """Share of the phrase's content words that occur in the text (a phrase of stop words only: literal match)."""
    wanted = fact_words(phrase)
    if not wanted:
        return float(phrase.strip().lower() in text.lower())
    return len(wanted & fact_words(text)) / len(wanted)


def alternatives(fact: str | Sequence[str]) -> Sequence[str]:
    """The phrases of a key fact: itself, or the alternatives of a group."""
    return (fact,) if isinstance(fact, str) else fact


def fact_label(fact: str | Sequence[str]) -> str:
    """A key fact as one line for reports: a group's alternatives joined by " | "."""
    return " | ".join(alternatives(fact))


def key_fact_share(fact: str | Sequence[str], answer: str) -> float:
    """Share of the fact's content words that occur in the answer; for a group, its best alternative's share."""
    return max((_word_share(phrase, answer) for phrase in alternatives(fact)), default=0.0)


def key_fact_conveyed(fact: str | Sequence[str], answer: str, min_share: float = KEY_FACT_MIN_SHARE) -> bool:
    return key_fact_share(fact, answer) >= min_share


def fact_conveyed(fact: str | Sequence[str], text: str) -> bool:
    """True when the text conveys the key fact (a group: any one of its alternatives), by the 80 % rule."""
    return key_fact_conveyed(fact, text)


def key_fact_recall(
    facts: Sequence[str | Sequence[str]], answer: str, min_share: float = KEY_FACT_MIN_SHARE
) -> float | None:
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
