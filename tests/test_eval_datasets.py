"""The evaluation datasets in evals/datasets/ load, have the promised make-up, and are grounded in the seeds."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from evals.dataset import (
    SUBTLE_UNSUPPORTED_KINDS,
    SUPPORTED_KINDS,
    UNSUPPORTED_KINDS,
    EvalQuestion,
    LabelledClaim,
    load_claims,
    load_questions,
)

ROOT = Path(__file__).resolve().parents[1]
SEEDS_DIR = ROOT / "seeds"
QUESTIONS_FILE = ROOT / "evals" / "datasets" / "seeds.jsonl"
CLAIMS_FILE = ROOT / "evals" / "datasets" / "claims.jsonl"

# What in each raw seed file is not article text: everything from `cut_at` on (footer
# headlines, copyright trailer) and link lines embedded in the body. "Starmer-Macron deal
# 'a sticking plaster'" may be a subheading or a link; it is excluded to be safe.
NOT_ARTICLE = {
    "000": {"cut_at": "\n-\nInstagram Influencer's Cupcake Recipe", "lines": []},
    "001": {"cut_at": "\nStarmer rules out EU customs union after Labour rebellion", "lines": []},
    "002": {
        "cut_at": "\n(c) Sky News 2025",
        "lines": [
            "Read more: UK's immigration shake-up explained",
            "Starmer-Macron deal 'a sticking plaster'",
            "Read more from Sky News:",
            "PM warns of 'lost decade of kids'",
            "Storm Bram brings 90mph winds and rain",
        ],
    },
}

STOP_WORDS = frozenset(
    """a an the and or but nor of to in on at by for with from as into onto than that this these those is are was
    were be been being has have had do does did done it its it's he she they them their his her we our us you your
    i me my not no so if then there here which who whom whose what when where why how will would can could should
    may might must shall s t d ll re ve m also very just""".split()
)


def _raw(prefix: str) -> str:
    matches = sorted(SEEDS_DIR.glob(f"{prefix}_*.txt"))
    assert len(matches) == 1, f"expected one seed file for prefix {prefix}, found {matches}"
    return matches[0].read_text(encoding="utf-8")


def _article_text(prefix: str) -> str:
    """The raw file with footers, link lines and the copyright trailer removed."""
    raw = _raw(prefix)
    spec = NOT_ARTICLE[prefix]
    assert spec["cut_at"] in raw, f"footer marker missing from seed {prefix}; update NOT_ARTICLE"
    body = raw[: raw.index(spec["cut_at"])]
    for line in spec["lines"]:
        assert line in body.splitlines(), f"link line {line!r} missing from seed {prefix}; update NOT_ARTICLE"
    return "\n".join(line for line in body.splitlines() if line not in spec["lines"])


def _content_words(text: str) -> set[str]:
    return {word for word in re.findall(r"[a-z0-9]+", text.lower()) if word not in STOP_WORDS}


@pytest.fixture(scope="module")
def questions() -> list[EvalQuestion]:
    return load_questions(QUESTIONS_FILE)


@pytest.fixture(scope="module")
def claims() -> list[LabelledClaim]:
    return load_claims(CLAIMS_FILE)


# ------------------------------------------------------------------ questions


def test_question_counts(questions: list[EvalQuestion]) -> None:
    assert len(questions) >= 44
    assert sum(not q.answerable for q in questions) >= 10
    assert sum(bool(q.history) for q in questions) >= 5
    assert sum(len(q.sources) >= 2 for q in questions) >= 3
    assert len({(q.question, tuple(q.history)) for q in questions}) == len(questions), "repeated question"


def test_required_questions_present(questions: list[EvalQuestion]) -> None:
    by_text = {q.question: q for q in questions if not q.history}
    why = by_text["Why won't Starmer leave the ECHR?"]
    assert why.answerable and why.sources == ["000"]
    assert "international law" in why.key_facts
    oped = by_text["Who wrote the op-ed with Starmer?"]
    assert oped.answerable and "Mette Frederiksen" in oped.key_facts


def test_answerable_questions_are_grounded(questions: list[EvalQuestion]) -> None:
    known = set(NOT_ARTICLE)
    for q in questions:
        if not q.answerable:
            continue
        assert q.sources and set(q.sources) <= known, q.id
        assert 2 <= len(q.key_facts) <= 4, q.id


def test_unanswerable_questions_refuse(questions: list[EvalQuestion]) -> None:
    for q in questions:
        if not q.answerable:
            assert not q.sources and not q.key_facts, q.id
            assert q.reference_answer.startswith("The articles do not say"), q.id


def test_key_fact_words_appear_in_the_named_articles(questions: list[EvalQuestion]) -> None:
    problems = []
    for q in questions:
        words = set().union(*(_content_words(_article_text(s)) for s in q.sources)) if q.sources else set()
        for fact in q.key_facts:
            fact_words = _content_words(fact)
            assert fact_words, f"{q.id}: key fact {fact!r} has no content words"
            missing = fact_words - words
            if missing:
                problems.append(f"{q.id}: {fact!r} -> {sorted(missing)} not in {q.sources}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ claims


def test_claim_counts(claims: list[LabelledClaim]) -> None:
    assert len(claims) >= 110
    labels = Counter(c.supported for c in claims)
    assert labels[True] == labels[False]
    kinds = Counter(c.kind for c in claims)
    for kind in SUBTLE_UNSUPPORTED_KINDS:
        assert kinds[kind] >= 8, f"only {kinds[kind]} claims of kind {kind}"
    assert kinds["paraphrase"] >= labels[True] // 2, "most supported claims should be real rewordings"
    assert set(kinds) <= SUPPORTED_KINDS | UNSUPPORTED_KINDS
    assert len({c.claim for c in claims}) == len(claims), "repeated claim"


def test_passages_are_verbatim_article_text(claims: list[LabelledClaim]) -> None:
    for c in claims:
        assert c.passage in _raw(c.source), f"{c.id}: passage not found verbatim in seed {c.source}"
        assert c.passage in _article_text(c.source), f"{c.id}: passage comes from a footer, not the article"
        assert c.passage == c.passage.strip() and "\n" not in c.passage, c.id


def test_passages_are_short(claims: list[LabelledClaim]) -> None:
    boundary = re.compile(r"[.!?][\"'”’]?\s+[\"“‘']?[A-Z]")
    for c in claims:
        assert len(boundary.findall(c.passage)) + 1 <= 3, f"{c.id}: passage longer than three sentences"


def test_unsupported_claims_are_not_copies(claims: list[LabelledClaim]) -> None:
    for c in claims:
        if not c.supported:
            assert c.claim.strip() not in c.passage, c.id


# ------------------------------------------------------------------ loader errors

GOOD_QUESTION = {"id": "q1", "question": "Q?", "reference_answer": "A.", "answerable": True, "sources": ["000"]}
GOOD_CLAIM = {"id": "c1", "claim": "C.", "passage": "P.", "source": "000", "supported": True, "kind": "paraphrase"}


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


_MISSING = object()


def _bad(good: dict, **changes: object) -> str:
    """`good` with fields changed; a field set to _MISSING is left out."""
    row = {**good, **changes}
    return json.dumps({k: v for k, v in row.items() if v is not _MISSING})


@pytest.mark.parametrize(
    ("loader", "good", "bad_line", "field"),
    [
        (load_questions, GOOD_QUESTION, '{"id": "q2", "question": ', None),
        (load_questions, GOOD_QUESTION, _bad(GOOD_QUESTION, id="q2", question=_MISSING), "question"),
        (load_questions, GOOD_QUESTION, _bad(GOOD_QUESTION, id="q2", answerable="yes"), "answerable"),
        (load_questions, GOOD_QUESTION, _bad(GOOD_QUESTION, id="q2", history=[["only one"]]), "history"),
        (load_questions, GOOD_QUESTION, _bad(GOOD_QUESTION, id="q2", reference_answer=" "), "reference_answer"),
        (load_questions, GOOD_QUESTION, _bad(GOOD_QUESTION, id="q2", notes="x"), "notes"),
        (load_questions, GOOD_QUESTION, _bad(GOOD_QUESTION), "id"),
        (load_claims, GOOD_CLAIM, "[1, 2]", None),
        (load_claims, GOOD_CLAIM, _bad(GOOD_CLAIM, id="c2", passage=_MISSING), "passage"),
        (load_claims, GOOD_CLAIM, _bad(GOOD_CLAIM, id="c2", supported=1), "supported"),
        (load_claims, GOOD_CLAIM, _bad(GOOD_CLAIM, id="c2", kind="negation"), "kind"),
        (load_claims, GOOD_CLAIM, _bad(GOOD_CLAIM), "id"),
    ],
    ids=[
        "q-bad-json", "q-missing", "q-type", "q-history", "q-empty-answer", "q-extra", "q-duplicate",
        "c-not-object", "c-missing", "c-type", "c-kind-label", "c-duplicate",
    ],
)
def test_loader_errors_name_file_line_and_field(tmp_path, loader, good, bad_line, field) -> None:
    path = _write(tmp_path, [json.dumps(good), "", bad_line])
    with pytest.raises(ValueError) as excinfo:
        loader(path)
    message = str(excinfo.value)
    assert "line 3" in message, message
    assert path.name in message, message
    if field is not None:
        assert re.search(rf"field '{re.escape(field)}[.']", message), message


def test_loader_skips_blank_lines(tmp_path) -> None:
    path = _write(tmp_path, ["", json.dumps(GOOD_CLAIM), "   ", ""])
    assert [c.id for c in load_claims(path)] == ["c1"]


def test_unanswerable_question_cannot_name_sources(tmp_path) -> None:
    path = _write(tmp_path, [_bad(GOOD_QUESTION, answerable=False)])
    with pytest.raises(ValueError, match="line 1.*'sources'"):
        load_questions(path)
