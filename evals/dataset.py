"""Typed records and loaders for the evaluation datasets in ``evals/datasets/``.

Two JSON Lines files, one object per line (blank lines are skipped):

* ``seeds.jsonl``  -> :class:`EvalQuestion`: questions for the assistant, with a
  reference answer, the articles that hold the answer and the key facts a
  correct answer must convey.
* ``claims.jsonl`` -> :class:`LabelledClaim`: one-sentence claims paired with a
  verbatim passage of a seed article, labelled supported or not, for measuring
  faithfulness judges.

The loaders raise :class:`ValueError` whose message names the file, the line
number and the field at fault, e.g.
``evals/datasets/seeds.jsonl, line 12: field 'answerable': Input should be a valid boolean``.
See ``evals/datasets/README.md`` for the formats and how the data was written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

DATASETS_DIR = Path(__file__).resolve().parent / "datasets"
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
    "unrelated",
]
ClaimKind = Literal[SupportedKind, UnsupportedKind]
SUPPORTED_KINDS: frozenset[str] = frozenset(get_args(SupportedKind))
UNSUPPORTED_KINDS: frozenset[str] = frozenset(get_args(UnsupportedKind))
# The unsupported kinds made by a minimal edit of a true claim (everything but "unrelated").
SUBTLE_UNSUPPORTED_KINDS: frozenset[str] = UNSUPPORTED_KINDS - {"unrelated"}

_SOURCE_PATTERN = r"^[0-9]{3}$"  # a seed file's name prefix: "000" for seeds/000_*.txt


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EvalQuestion(_Row):
    """One question for the assistant, with what a correct answer must contain."""

    id: StrictStr = Field(min_length=1, description="Unique id, e.g. 's01'.")
    question: StrictStr = Field(min_length=1, description="The user's question as typed.")
    # answerable is declared before reference_answer/sources/key_facts so their validators can see it.
    answerable: StrictBool = Field(
        description="False when the articles do not hold the answer (the assistant should refuse)."
    )
    reference_answer: StrictStr = Field(
        description="1-3 sentences faithful to the articles; for unanswerable questions, a refusal."
    )
    history: list[tuple[StrictStr, StrictStr]] = Field(
        default=[], description="Earlier (user, assistant) turns the question depends on, oldest first."
    )
    sources: list[StrictStr] = Field(default=[], description="Prefixes ('000') of the seed files that hold the answer.")
    key_facts: list[StrictStr] = Field(
        default=[], description="Short phrases, worded as in the article text, that a correct answer must convey."
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
            if not re.match(_SOURCE_PATTERN, source):
                raise ValueError(f"source {source!r} is not a three-digit file prefix such as '000'")
        if len(set(value)) != len(value):
            raise ValueError("sources are repeated")
        if info.data.get("answerable") is False and value:
            raise ValueError("an unanswerable question cannot name sources")
        return value

    @field_validator("key_facts")
    @classmethod
    def _check_key_facts(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if any(not fact.strip() for fact in value):
            raise ValueError("key facts must not be empty")
        if info.data.get("answerable") is False and value:
            raise ValueError("an unanswerable question cannot have key facts")
        return value

    @field_validator("history")
    @classmethod
    def _check_history(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if any(not user.strip() or not assistant.strip() for user, assistant in value):
            raise ValueError("history turns must have a non-empty user and assistant message")
        return value


class LabelledClaim(_Row):
    """A claim, a verbatim passage of one seed article, and whether the passage supports the claim."""

    id: StrictStr = Field(min_length=1, description="Unique id, e.g. 'c001'.")
    claim: StrictStr = Field(min_length=1, description="One sentence to judge.")
    passage: StrictStr = Field(
        min_length=1, description="1-3 consecutive sentences copied verbatim from the seed file."
    )
    source: StrictStr = Field(
        pattern=_SOURCE_PATTERN, description="Prefix ('000') of the seed file the passage comes from."
    )
    supported: StrictBool = Field(description="True when the passage alone supports the claim.")
    kind: ClaimKind = Field(description="How the claim was made; must agree with 'supported'.")

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


def _load(path: Path, model: type[_Model]) -> list[_Model]:
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
    return _load(path, EvalQuestion)


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
    "LabelledClaim",
    "load_claims",
    "load_questions",
]
