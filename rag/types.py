"""Frozen records passed between the stages.

Data flow: file -> :class:`Article` -> :class:`Passage` -> index (:class:`StoredPassage`) ->
:class:`RetrievedPassage` -> :class:`EvidenceItem` (numbered sentences) -> model ->
:class:`VerifiedAnswer` -> :class:`Answer` with :class:`Citation`s. Every record that
crosses from one stage to the next lives here, so a stage imports the records, not
the stage before it.
All offsets are character offsets into ``Article.text`` (the cleaned text), so
``article.text[start:end]`` is exactly the quoted span.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


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
        None, description="The stage that refused: relevance, names, gate, check (select: the copied answer does not fit the "
        "question), model or verification."
    )
    confidence: float | None = Field(None, description="select: confidence (0..1) that the quoted sentences answer the question.")
    signals: dict[str, float] = Field(default_factory=dict, description="select: the signals the confidence was computed from.")
    short_answer: str | None = Field(
        None, description="select: the phrase the model copied from the quotes as the answer (NONE: it found none)."
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
