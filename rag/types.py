"""Frozen records passed between the stages.

Data flow: file -> :class:`Article` -> :class:`Passage` -> index (:class:`StoredPassage`) ->
:class:`RetrievedPassage` -> :class:`EvidenceItem` (numbered sentences) -> model ->
:class:`VerifiedAnswer` -> :class:`Answer` with :class:`Citation`s. Every record that
crosses from one stage to the next lives here, so a stage imports the records, not
the stage before it.
All offsets are character offsets into ``Article.text`` (the cleaned text), so
``article.text[start:end]`` is exactly the quoted span.
:class:`Filters` narrow retrieval to some articles (publisher, date range, ids).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from rag.dates import date_span
from rag.errors import FilterError


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Article(_Record):
    """One cleaned article."""

    id: str = Field(description="Stable id derived from the source path.")
    source: str = Field(description="Path relative to the corpus folder, with forward slashes.")
    title: str
    publisher: str | None = None
    date: str | None = Field(None, description="Publication date as found (ISO when it could be parsed).")
    url: str | None = None
    text: str = Field(description="Cleaned article text; every offset refers to it.")
    content_hash: str = Field(description="sha256 of the raw file bytes.")


class Passage(_Record):
    """A few consecutive sentences of one article."""

    id: str = Field(description="'{article_id}-{content_hash[:8]}-{ordinal:04d}'")
    article_id: str
    ordinal: int = Field(ge=0)
    text: str = Field(description="Equal to article.text[start:end].")
    start: int = Field(ge=0)
    end: int = Field(gt=0)


class ArticleFields(_Record):
    """The fields of an article that travel with each of its passages and citations."""

    article_id: str
    source: str
    title: str
    publisher: str | None = None
    date: str | None = None

    def article_fields(self) -> dict[str, str | None]:
        """These fields as keyword arguments for the next record that carries them."""
        return {name: getattr(self, name) for name in ArticleFields.model_fields}


class StoredPassage(Passage, ArticleFields):
    """A passage joined with the article fields retrieval needs."""


class PassageRef(_Record):
    """Where else a near-identical passage appears."""

    passage_id: str
    article_id: str
    source: str
    title: str
    start: int
    end: int


class RetrievedPassage(ArticleFields):
    """A passage found for a question, with the article it belongs to and its scores."""

    passage_id: str
    text: str
    start: int
    end: int
    score: float = Field(description="Ranking score, higher first (only comparable within one query).")
    relevance: float = Field(description="Cosine similarity of question and passage, 0..1; used to refuse.")
    dense_rank: int | None = None
    lexical_rank: int | None = None
    also_in: tuple[PassageRef, ...] = ()


class Citation(ArticleFields):
    """A marker [n] in the answer, resolved to an exact span of an article."""

    marker: int = Field(description="The n of [n] in the answer text.")
    passage_id: str
    quote: str = Field(description="The supporting text, equal to the article's text[start:end].")
    start: int
    end: int
    support: float = Field(description="How well the quote supports the sentence that cites it, 0..1.")


def publisher_key(name: str) -> str:
    """How publishers are compared: case-insensitive, whitespace collapsed ("sky  NEWS" is "Sky News")."""
    return " ".join(name.split()).casefold()


# The keys Filters.parse takes ("publishers" too: the field's own name, so a dumped Filters parses back).
FILTER_KEYS = ("publisher", "since", "until", "article_ids")
_KEYS_TEXT = "publisher, since, until or article_ids"
_DATE_FORM = "a date like 2025-05-31 (or 2025-05, 2025)"


class Filters(_Record):
    """Which articles retrieval may draw on: every article unless a field is set; the fields set all apply.

    Dates are compared as the days they cover (see :mod:`rag.dates`): an article dated "2025" is kept by
    a filter on May 2025. Undated articles (no date, or one that cannot be read) are kept unless ``since``
    or ``until`` is set. Build one from JSON-style input with :meth:`parse`.
    """

    publishers: tuple[str, ...] = Field((), description="Only these publishers' articles (case-insensitive).")
    since: dt.date | None = Field(None, description="Only articles that may be from this day or later.")
    until: dt.date | None = Field(None, description="Only articles that may be from this day or earlier (inclusive).")
    article_ids: tuple[str, ...] = Field((), description="Only these articles.")

    @field_validator("publishers", "article_ids")
    @classmethod
    def _tidy(cls, values: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        # Whitespace collapsed, blanks and repeats dropped (publishers compared case-insensitively).
        key = publisher_key if info.field_name == "publishers" else str
        tidy: dict[str, str] = {}
        for value in values:
            if value.strip():
                tidy.setdefault(key(value), " ".join(value.split()))
        return tuple(tidy.values())

    @property
    def empty(self) -> bool:
        """Whether nothing is filtered (every article passes)."""
        return not (self.publishers or self.article_ids or self.dated)

    @property
    def dated(self) -> bool:
        """Whether a date bound is set (undated articles are then left out)."""
        return self.since is not None or self.until is not None

    @property
    def impossible(self) -> bool:
        """Whether the range is empty (since after until): no article passes, not even one dated "2025"."""
        return self.since is not None and self.until is not None and self.since > self.until

    def admits(self, article_id: str, publisher: str | None, date: str | None) -> bool:
        """Whether an article with these fields passes (the index applies the same rules to all at once)."""
        if self.article_ids and article_id not in self.article_ids:
            return False
        if self.publishers and (publisher is None or publisher_key(publisher) not in map(publisher_key, self.publishers)):
            return False
        if not self.dated:
            return True
        span = date_span(date)
        return span is not None and not self.impossible and (self.since is None or span[1] >= self.since) and (
            self.until is None or span[0] <= self.until)

    def describe(self) -> str:
        """Short text for the user: "Sky News, 2025-05-01 to 2025-05-31"."""
        parts = []
        if self.publishers:
            parts.append(" or ".join(self.publishers))
        if self.since is not None and self.until is not None:
            parts.append(f"on {self.since}" if self.since == self.until else f"{self.since} to {self.until}")
        elif self.since is not None:
            parts.append(f"since {self.since}")
        elif self.until is not None:
            parts.append(f"until {self.until}")
        if len(self.article_ids) == 1:
            parts.append(f"article {self.article_ids[0]}")
        elif self.article_ids:
            parts.append(f"{len(self.article_ids)} chosen articles")
        return ", ".join(parts) or "no filters"

    @classmethod
    def parse(cls, value: object, labels: Mapping[str, str] | None = None) -> Filters | None:
        """Filters from None, a Filters, or a mapping with the keys ``publisher`` (a name or a list of names),
        ``since`` and ``until`` (ISO dates; "2025" or "2025-05" mean the start of that period for ``since``
        and its end for ``until``) and ``article_ids`` (a list of ids). None when nothing is filtered.

        Raises FilterError naming the field and the form it takes; ``labels`` names the fields in that
        message (the command line's options), else ``filters.<key>``. An empty or impossible range is not
        an error: it matches no article.
        """
        if value is None:
            return None
        if isinstance(value, Filters):
            return None if value.empty else value
        if not isinstance(value, Mapping):
            raise FilterError(f"filters must be an object with the keys {_KEYS_TEXT}, not {type(value).__name__}.")

        def name(key: str) -> str:
            return (labels or {}).get(key, f"filters.{key}")

        publishers: list[str] = []
        article_ids: list[str] = []
        bounds: dict[str, dt.date] = {}
        for key, raw in value.items():
            if key not in (*FILTER_KEYS, "publishers"):
                raise FilterError(f"filters.{' '.join(str(key).split())[:40]} is not a filter: use {_KEYS_TEXT}.")
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            if key in ("publisher", "publishers"):
                publishers += _strings(raw, f"{name('publisher')} must be a publisher's name or a list of names, "
                                            "like \"Sky News\"", single=True)
            elif key == "article_ids":
                article_ids += _strings(raw, f"{name(key)} must be a list of article ids, "
                                             "like [\"000_f14baaa9ae4bf647\"]", single=False)
            else:
                bounds[key] = _bound(raw, key == "since", f"{name(key)} must be {_DATE_FORM}")
        found = cls(publishers=tuple(publishers), article_ids=tuple(article_ids), **bounds)
        return None if found.empty else found


def _shown(value: object) -> str:
    """A client's value in a message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _strings(raw: object, wanted: str, single: bool) -> list[str]:
    """A list of strings (or one string when ``single``), else FilterError "<wanted>, not <raw>."."""
    items = [raw] if single and isinstance(raw, str) else raw
    if isinstance(items, (list, tuple)) and all(isinstance(item, str) for item in items):
        return list(items)
    raise FilterError(f"{wanted}, not {_shown(raw)}.")


def _bound(raw: object, first: bool, wanted: str) -> dt.date:
    """A since (first day of the period) or until (last day) bound, else FilterError "<wanted>, not <raw>."."""
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    span = date_span(raw) if isinstance(raw, str) else None
    if span is None:
        raise FilterError(f"{wanted}, not {_shown(raw)}.")
    return span[0] if first else span[1]


@dataclass(frozen=True)
class EvidenceItem:
    """One numbered sentence shown to the model."""

    number: int
    text: str
    passage: RetrievedPassage
    start: int  # offsets in the article's cleaned text
    end: int
    score: float


@dataclass
class VerifiedAnswer:
    """The answer text after verification: its citations, the sentences it dropped, or a refusal."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    refused: bool = False


class Answer(_Record):
    """The result of one question."""

    question: str
    standalone_question: str = Field(description="The question rewritten with the chat history, used for retrieval.")
    answer: str = Field(description="Answer text with [n] citation markers, or the refusal.")
    refused: bool
    refusal_reason: str | None = None
    citations: tuple[Citation, ...] = ()
    passages: tuple[RetrievedPassage, ...] = Field((), description="The passages retrieved and shown to the model.")
    dropped_sentences: tuple[str, ...] = Field((), description="Generated sentences removed because no passage supports them.")
    backend: str = Field(description="The backend that produced the answer (extractive when it fell back).")
    notice: str | None = Field(None, description="Shown to the user, e.g. that the LLM was unreachable and extractive mode answered.")
    timings: dict[str, float] = Field(
        default_factory=dict,
        description="Seconds since the question for retrieval, evidence, first_token (generate), gate and check (select) "
        "and total; verification (generate) is the seconds spent verifying.",
    )
    strategy: str | None = Field(None, description="How the answer was made: select, generate or extract.")
    evidence: tuple[str, ...] = Field((), description="The evidence sentences the answer was made from.")
    draft: str | None = Field(
        None, description="The answer before the last check: the model's raw text (generate) or the quoted sentences (select)."
    )
    refused_at: str | None = Field(
        None, description="The stage that refused: filters (no article passes them), relevance, names, gate, check "
        "(select: the copied answer does not fit the question), model or verification."
    )
    confidence: float | None = Field(None, description="select: confidence (0..1) that the quoted sentences answer the question.")
    signals: dict[str, float] = Field(default_factory=dict, description="select: the signals the confidence was computed from.")
    short_answer: str | None = Field(
        None, description="select: the phrase the model copied from the quotes as the answer (NONE: it found none)."
    )
    filters: Filters | None = Field(None, description="The filters retrieval was restricted to (None: every article).")
    filter_note: str | None = Field(
        None, description="With filters: one line saying what they let through, e.g. "
        "'Filtered: Sky News · 1 of 912 articles · 3 undated excluded'."
    )


class EvidenceEvent(_Record):
    """First item of a stream: the evidence, before any token."""

    standalone_question: str
    passages: tuple[RetrievedPassage, ...]


class TokenEvent(_Record):
    """A piece of the answer as the model writes it (before verification)."""

    text: str


StreamEvent = EvidenceEvent | TokenEvent | Answer


class SentenceVectors:
    """A passage's sentence spans (offsets into the passage text) and their unit vectors."""

    __slots__ = ("spans", "vectors")

    def __init__(self, spans: list[tuple[int, int]], vectors: np.ndarray) -> None:
        self.spans = spans
        self.vectors = vectors


@dataclass(frozen=True)
class Retrieval:
    """What retrieval found for one question, and all that evidence selection needs from it."""

    question: str  # as searched (the standalone question)
    question_vector: np.ndarray  # unit vector; embedded once per question
    passages: tuple[RetrievedPassage, ...]  # best first
    sentences: Mapping[str, SentenceVectors]  # passage id -> its sentence spans and vectors
    filters: Filters | None = None  # what retrieval was restricted to (None: every article)
    articles_matching: int | None = None  # articles the filters let through (None without filters)
    articles_total: int | None = None  # articles in the index (None without filters)
    undated_excluded: int = 0  # undated articles a date filter left out that the other filters let through

    def filter_note(self) -> str | None:
        """One line for the user when filters were on: "Filtered: Sky News · 1 of 912 articles · 3 undated excluded"."""
        if self.filters is None:
            return None
        total = self.articles_total or 0
        note = f"Filtered: {self.filters.describe()} · {self.articles_matching} of {total} article{_s(total)}"
        return note + (f" · {self.undated_excluded} undated excluded" if self.undated_excluded else "")

    def searched_among(self) -> str:
        """Where a refusal looked, " among the 2 articles matching the filters (Sky News)"; "" without filters."""
        if self.filters is None:
            return ""
        n = self.articles_matching or 0
        return f" among the {n} article{_s(n)} matching the filters ({self.filters.describe()})"

    def no_match_reason(self) -> str:
        """Why a filtered retrieval found nothing: "no article matches the filters (Sky News, since 2026-01-01)"."""
        described = self.filters.describe() if self.filters is not None else "no filters"
        if self.articles_matching:
            reason = (f"no passage of the {self.articles_matching} article{_s(self.articles_matching)} "
                      f"matching the filters ({described}) was found")
        else:
            reason = f"no article matches the filters ({described})"
        if self.undated_excluded:
            reason += f"; the dates also left out {self.undated_excluded} undated article{_s(self.undated_excluded)}"
        return reason


def _s(count: int) -> str:
    return "" if count == 1 else "s"
