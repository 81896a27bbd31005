"""Typed records and loaders for the evaluation datasets in ``evals/datasets/``.

Two JSON Lines files, one object per line (blank lines are skipped):

* ``seeds.jsonl``  -> :class:`EvalQuestion`: questions for the assistant, with a
  reference answer, the articles that hold the answer and the key facts a
  correct answer must convey.
* ``claims.jsonl`` -> :class:`LabelledClaim`: one-sentence claims paired with a
  verbatim passage of a seed or BBC article, labelled supported or not (with a
  dev/test split), for measuring faithfulness judges.

The loaders raise :class:`ValueError` whose message names the file, the line
number and the field at fault, e.g.
``evals/datasets/seeds.jsonl, line 12: field 'answerable': Input should be a valid boolean``.

A questions file may also be a user's own: RAGAS column names (``user_input``,
``reference``, ``reference_contexts``) are accepted, ``id`` and ``answerable``
may be left out, and unknown columns are dropped and reported by
:func:`load_questions_with_notes` rather than rejected. The claims file stays strict.

See ``evals/datasets/README.md`` for the formats and how the data was written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

DATASETS_DIR = Path(__file__).resolve().parents[1] / "datasets"
QUESTIONS_PATH = DATASETS_DIR / "seeds.jsonl"
CLAIMS_PATH = DATASETS_DIR / "claims.jsonl"

SupportedKind = Literal["paraphrase", "verbatim", "inference-light"]
UnsupportedKind = Literal[
    "wrong_number",
    "swapped_speaker",
    "negation",
    "unsupported_addition",
    "wrong_entity",
    "wrong_date",
    "overgeneralisation",
    "relation_invented",
    "unrelated",
]
ClaimKind = Literal[SupportedKind, UnsupportedKind]
SUPPORTED_KINDS: frozenset[str] = frozenset(get_args(SupportedKind))
UNSUPPORTED_KINDS: frozenset[str] = frozenset(get_args(UnsupportedKind))
# The unsupported kinds made by a minimal edit of a true claim (everything but "unrelated").
SUBTLE_UNSUPPORTED_KINDS: frozenset[str] = UNSUPPORTED_KINDS - {"unrelated"}

# A seed file's name prefix ("000" for seeds/000_*.txt) or a BBC article's stem ("0289" for bbc/sports/0289.txt).
_SOURCE_PATTERN = r"^(?:[0-9]{3}|[0-9]{4})$"
# RAGAS's column names (SingleTurnSample) for ours, so a RAGAS test set loads as it is.
_RAGAS_NAMES = {"question": "user_input", "reference_answer": "reference"}

KeyFact = StrictStr | list[StrictStr]
"""A phrase, or a group of alternative phrases of which the answer must convey one."""


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EvalQuestion(_Row):
    """One question for the assistant, with what a correct answer must contain."""

    id: StrictStr = Field(min_length=1, description="Unique id, e.g. 's01'.")
    question: StrictStr = Field(
        min_length=1, validation_alias=AliasChoices("question", _RAGAS_NAMES["question"]),
        description="The user's question as typed.",
    )
    # answerable is declared before reference_answer/sources/key_facts so their validators can see it.
    answerable: StrictBool = Field(
        default=True, description="False when the articles do not hold the answer (the assistant should refuse)."
    )
    reference_answer: StrictStr = Field(
        validation_alias=AliasChoices("reference_answer", _RAGAS_NAMES["reference_answer"]),
        description="1-3 sentences faithful to the articles; for unanswerable questions, a refusal.",
    )
    history: list[tuple[StrictStr, StrictStr]] = Field(
        default=[], description="Earlier (user, assistant) turns the question depends on, oldest first."
    )
    sources: list[StrictStr] = Field(
        default=[],
        description="The articles that hold the answer, each as a file-name prefix ('000'), file name, stem, "
        "corpus-relative path or article id (see evals.quality.metrics.source_matches).",
    )
    key_facts: list[KeyFact] = Field(
        default=[],
        description="Short phrases, worded as in the article text, that a correct answer must convey; "
        "a list of phrases is one fact worded several ways (any one counts).",
    )
    reference_contexts: list[StrictStr] = Field(
        default=[], description="Article excerpts that hold the answer (RAGAS); retrieval is scored on them "
        "when there are no sources.",
    )
    split: Literal["dev", "test"] | None = Field(
        default=None, description="'dev' (tune on it) or 'test' (report on it); None: in neither split."
    )

    @field_validator("reference_answer")
    @classmethod
    def _answer_present(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("answerable") and not value.strip():
            raise ValueError("an answerable question needs a non-empty reference answer")
        return value

    @field_validator("sources")
    @classmethod
    def _check_sources(cls, value: list[str], info: ValidationInfo) -> list[str]:
        for source in value:
            if not source or source != source.strip():
                raise ValueError(f"source {source!r} is empty or has leading or trailing spaces")
        if len(set(value)) != len(value):
            raise ValueError("sources are repeated")
        if info.data.get("answerable") is False and value:
            raise ValueError("an unanswerable question cannot name sources")
        return value

    @field_validator("key_facts")
    @classmethod
    def _check_key_facts(cls, value: list[str | list[str]], info: ValidationInfo) -> list[str | list[str]]:
        if any(isinstance(fact, list) and not fact for fact in value):
            raise ValueError("a group of alternative key facts needs at least one phrase")
        if any(not phrase.strip() for fact in value for phrase in ([fact] if isinstance(fact, str) else fact)):
            raise ValueError("key facts must not be empty")
        if info.data.get("answerable") is False and value:
            raise ValueError("an unanswerable question cannot have key facts")
        return value

    @field_validator("reference_contexts")
    @classmethod
    def _check_contexts(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if any(not context.strip() for context in value):
            raise ValueError("reference contexts must not be empty")
        if info.data.get("answerable") is False and value:
            raise ValueError("an unanswerable question cannot have reference contexts")
        return value

    @field_validator("history")
    @classmethod
    def _check_history(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if any(not user.strip() or not assistant.strip() for user, assistant in value):
            raise ValueError("history turns must have a non-empty user and assistant message")
        return value


class LabelledClaim(_Row):
    """A claim, a verbatim passage of one article (seed or BBC), and whether the passage supports the claim."""

    id: StrictStr = Field(min_length=1, description="Unique id, e.g. 'c001'.")
    claim: StrictStr = Field(min_length=1, description="One sentence to judge.")
    passage: StrictStr = Field(
        min_length=1, description="1-3 consecutive sentences copied verbatim from the source article."
    )
    source: StrictStr = Field(
        description="The article the passage comes from: a seed file's three-digit prefix ('000') or a BBC "
        "article's four-digit stem ('0289', row 289 of the BBC CSV)."
    )
    supported: StrictBool = Field(description="True when the passage alone supports the claim.")
    kind: ClaimKind = Field(description="How the claim was made; must agree with 'supported'.")
    split: Literal["dev", "test"] | None = Field(
        default=None, description="'dev' (tune a judge on it) or 'test' (report on it); None: in neither split."
    )

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        if not re.fullmatch(_SOURCE_PATTERN, value):
            raise ValueError(
                f"source {value!r} must be a seed file's three-digit prefix ('000') or a BBC article's "
                "four-digit stem ('0289')"
            )
        return value

    @field_validator("kind")
    @classmethod
    def _kind_matches_label(cls, value: str, info: ValidationInfo) -> str:
        supported = info.data.get("supported")
        if supported is True and value not in SUPPORTED_KINDS:
            raise ValueError(f"kind of a supported claim must be one of {sorted(SUPPORTED_KINDS)}, not {value!r}")
        if supported is False and value not in UNSUPPORTED_KINDS:
            raise ValueError(f"kind of an unsupported claim must be one of {sorted(UNSUPPORTED_KINDS)}, not {value!r}")
        return value


_Model = TypeVar("_Model", EvalQuestion, LabelledClaim)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        loc = item.get("loc") or ()
        field = ".".join(str(part) for part in loc) if loc else "(record)"
        message = item.get("msg", "invalid")
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        parts.append(f"field '{field}': {message}")
    return "; ".join(parts)


def _user_row(data: dict[str, Any], lineno: int, ignored: set[str]) -> dict[str, Any]:
    """A user's questions row in our terms: a missing id made from the line number, unknown columns dropped.

    RAGAS names are left for the model's aliases, so errors name the column the user wrote.
    """
    for name, ragas in _RAGAS_NAMES.items():
        if name in data and ragas in data:
            raise ValueError(f"fields '{name}' and '{ragas}' both given; they mean the same, keep one")
    known = EvalQuestion.model_fields.keys() | _RAGAS_NAMES.values()
    ignored.update(data.keys() - known)
    return {"id": f"line-{lineno}"} | {key: value for key, value in data.items() if key in known}


def _load(path: Path, model: type[_Model], ignored: set[str] | None = None) -> list[_Model]:
    """Rows of ``model``; with ``ignored``, rows are a user's questions (see :func:`_user_row`)."""
    path = Path(path)
    rows: list[_Model] = []
    first_line: dict[str, int] = {}
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            where = f"{path}, line {lineno}"
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
            if not line.strip():
                continue
            try:
                data: Any = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})") from None
            if not isinstance(data, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
            if ignored is not None:
                try:
                    data = _user_row(data, lineno, ignored)
                except ValueError as exc:
                    raise ValueError(f"{where}: {exc}") from None
            try:
                row = model.model_validate(data)
            except ValidationError as exc:
                raise ValueError(f"{where}: {_describe(exc)}") from None
            if row.id in first_line:
                first = first_line[row.id]
                raise ValueError(f"{where}: field 'id': duplicate id {row.id!r} (first used on line {first})")
            first_line[row.id] = lineno
            rows.append(row)
    return rows


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read a questions file (``seeds.jsonl``); raises ValueError naming file, line and field on a bad line."""
    return load_questions_with_notes(path)[0]


def load_questions_with_notes(path: Path) -> tuple[list[EvalQuestion], list[str]]:
    """The questions of a file and, sorted, the names of the columns that were ignored because no field uses them."""
    ignored: set[str] = set()
    questions = _load(path, EvalQuestion, ignored)
    return questions, sorted(ignored)


def load_claims(path: Path) -> list[LabelledClaim]:
    """Read a labelled-claims file (``claims.jsonl``); raises ValueError naming file, line and field on a bad line."""
    return _load(path, LabelledClaim)


__all__ = [
    "CLAIMS_PATH",
    "ClaimKind",
    "DATASETS_DIR",
    "QUESTIONS_PATH",
    "SUBTLE_UNSUPPORTED_KINDS",
    "SUPPORTED_KINDS",
    "UNSUPPORTED_KINDS",
    "EvalQuestion",
    "KeyFact",
    "LabelledClaim",
    "load_claims",
    "load_questions",
    "load_questions_with_notes",
]
