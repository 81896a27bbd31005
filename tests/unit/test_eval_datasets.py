"""The evaluation datasets in evals/datasets/ load, have the promised make-up, and are grounded in the seeds."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from evals.quality.dataset import (
    SUBTLE_UNSUPPORTED_KINDS,
    SUPPORTED_KINDS,
    UNSUPPORTED_KINDS,
    EvalQuestion,
    LabelledClaim,
    load_claims,
    load_questions,
)

ROOT = Path(__file__).resolve().parents[2]
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


def _key_fact_word_problems(questions: list[EvalQuestion], article_text: Callable[[str], str]) -> list[str]:
    """Key-fact phrases (each alternative of a group) with content words their source articles lack."""
    problems = []
    for q in questions:
        words = set().union(*(_content_words(article_text(s)) for s in q.sources)) if q.sources else set()
        for fact in q.key_facts:
            for phrase in [fact] if isinstance(fact, str) else fact:
                fact_words = _content_words(phrase)
                assert fact_words, f"{q.id}: key fact {phrase!r} has no content words"
                missing = fact_words - words
                if missing:
                    problems.append(f"{q.id}: {phrase!r} -> {sorted(missing)} not in {q.sources}")
    return problems


def test_key_fact_words_appear_in_the_named_articles(questions: list[EvalQuestion]) -> None:
    problems = _key_fact_word_problems(questions, _article_text)
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ claims


def test_claim_counts(claims: list[LabelledClaim]) -> None:
    assert len(claims) >= 194 + 150
    assert sum(_is_seed(c) for c in claims) >= 110
    labels = Counter(c.supported for c in claims)
    assert labels[True] == labels[False]
    kinds = Counter(c.kind for c in claims)
    for kind in SUBTLE_UNSUPPORTED_KINDS:
        assert kinds[kind] >= 8, f"only {kinds[kind]} claims of kind {kind}"
    assert kinds["paraphrase"] >= labels[True] // 2, "most supported claims should be real rewordings"
    assert set(kinds) <= SUPPORTED_KINDS | UNSUPPORTED_KINDS
    assert len({c.claim for c in claims}) == len(claims), "repeated claim"


def _is_seed(claim: LabelledClaim) -> bool:
    """A claim about a seed article (three-digit source); the others are about BBC CSV rows (four digits)."""
    return len(claim.source) == 3


def test_passages_are_verbatim_article_text(claims: list[LabelledClaim]) -> None:
    for c in claims:
        if not _is_seed(c):
            continue  # BBC passages: test_bbc_claim_passages_are_verbatim_csv_text
        assert c.passage in _raw(c.source), f"{c.id}: passage not found verbatim in seed {c.source}"
        assert c.passage in _article_text(c.source), f"{c.id}: passage comes from a footer, not the article"
        assert c.passage == c.passage.strip() and "\n" not in c.passage, c.id


def test_passages_are_short(claims: list[LabelledClaim]) -> None:
    boundary = re.compile(r"[.!?][\"'”’]?\s+[\"“‘']?[A-Z]")
    lower_case_boundary = re.compile(r"\.\s+\S")  # the BBC CSV is lower-cased and has lost all but full stops
    for c in claims:
        found = boundary if _is_seed(c) else lower_case_boundary
        assert len(found.findall(c.passage)) + 1 <= 3, f"{c.id}: passage longer than three sentences"


def test_unsupported_claims_are_not_copies(claims: list[LabelledClaim]) -> None:
    for c in claims:
        if not c.supported:
            assert c.claim.strip() not in c.passage, c.id


def test_bbc_claim_counts(claims: list[LabelledClaim]) -> None:
    bbc = [c for c in claims if not _is_seed(c)]
    assert len(bbc) >= 150
    assert all(re.fullmatch(r"[0-9]{4}", c.source) for c in bbc)
    assert abs(sum(c.supported for c in bbc) / len(bbc) - 0.5) <= 0.1, "BBC claims should be about half supported"
    assert len({c.source for c in bbc}) >= 40, "BBC claims should spread over 40+ articles"
    kinds = Counter(c.kind for c in bbc)
    assert kinds["relation_invented"] >= 50
    assert set(kinds) >= SUPPORTED_KINDS, kinds


def test_relation_invented_claims_reuse_the_passage_words(claims: list[LabelledClaim]) -> None:
    """The kind is for claims a word-overlap check would pass: their every content word is in the passage."""
    problems = []
    for c in claims:
        if c.kind == "relation_invented":
            missing = _content_words(c.claim) - _content_words(c.passage)
            if missing:
                problems.append(f"{c.id}: {sorted(missing)} not in the passage")
    assert not problems, "\n".join(problems)


def test_claims_have_a_split_and_a_passage_stays_in_one(claims: list[LabelledClaim]) -> None:
    assert all(c.split in ("dev", "test") for c in claims), "every claim needs a split"
    splits: dict[str, set[str | None]] = {}
    for c in claims:
        splits.setdefault(c.passage, set()).add(c.split)
    mixed = [passage[:60] for passage, found in splits.items() if len(found) > 1]
    assert not mixed, f"claims sharing a passage are in different splits: {mixed}"
    for subset in (claims, [c for c in claims if c.kind == "relation_invented"]):
        dev = sum(c.split == "dev" for c in subset)
        assert abs(dev / len(subset) - 0.5) <= 0.05, f"{dev} of {len(subset)} in dev"
    for split in ("dev", "test"):
        labels = Counter(c.supported for c in claims if c.split == split)
        assert labels[True] and labels[False], f"{split} lacks a label"


def test_bbc_claim_passages_are_verbatim_csv_text(
    claims: list[LabelledClaim], bbc_rows: list[dict[str, str]]
) -> None:
    texts = Counter(row["text"].strip() for row in bbc_rows)
    categories: Counter[str] = Counter()
    for source in sorted({c.source for c in claims if not _is_seed(c)}):
        assert int(source) < len(bbc_rows), f"no CSV row {source}"
        text = bbc_rows[int(source)]["text"].strip()
        assert texts[text] == 1, f"row {source} is an exact duplicate (the indexer keeps only the first copy)"
        categories[bbc_rows[int(source)]["category"].lower()] += 1
    for c in claims:
        if not _is_seed(c):
            assert c.passage in bbc_rows[int(c.source)]["text"], f"{c.id}: passage not verbatim in CSV row {c.source}"
            assert c.passage == c.passage.strip() and "\n" not in c.passage, c.id
    assert categories["sports"] >= 10 and categories["politics"] >= 10, categories


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
        (load_questions, GOOD_QUESTION, _bad(GOOD_QUESTION, id="q2", key_facts=["a", []]), "key_facts"),
        (load_questions, GOOD_QUESTION, _bad(GOOD_QUESTION), "id"),
        (load_claims, GOOD_CLAIM, "[1, 2]", None),
        (load_claims, GOOD_CLAIM, _bad(GOOD_CLAIM, id="c2", passage=_MISSING), "passage"),
        (load_claims, GOOD_CLAIM, _bad(GOOD_CLAIM, id="c2", supported=1), "supported"),
        (load_claims, GOOD_CLAIM, _bad(GOOD_CLAIM, id="c2", kind="negation"), "kind"),
        (load_claims, GOOD_CLAIM, _bad(GOOD_CLAIM, id="c2", source="00289"), "source"),
        (load_claims, GOOD_CLAIM, _bad(GOOD_CLAIM, id="c2", split="train"), "split"),
        (load_claims, GOOD_CLAIM, _bad(GOOD_CLAIM), "id"),
    ],
    ids=[
        "q-bad-json", "q-missing", "q-type", "q-history", "q-empty-answer", "q-empty-fact-group", "q-duplicate",
        "c-not-object", "c-missing", "c-type", "c-kind-label", "c-source", "c-split", "c-duplicate",
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


def test_claim_sources_and_splits(tmp_path) -> None:
    rows = [
        _bad(GOOD_CLAIM, id="c1", source="0289", split="dev"),
        _bad(GOOD_CLAIM, id="c2", supported=False, kind="relation_invented"),
    ]
    first, second = load_claims(_write(tmp_path, rows))
    assert (first.source, first.split) == ("0289", "dev") and second.split is None
    assert "relation_invented" in SUBTLE_UNSUPPORTED_KINDS
    with pytest.raises(ValueError, match=r"line 1: field 'source': .*three-digit prefix .*four-digit stem"):
        load_claims(_write(tmp_path, [_bad(GOOD_CLAIM, source="bbc/sports/0289.txt")]))


def test_loader_skips_blank_lines(tmp_path) -> None:
    path = _write(tmp_path, ["", json.dumps(GOOD_CLAIM), "   ", ""])
    assert [c.id for c in load_claims(path)] == ["c1"]


def test_unanswerable_question_cannot_name_sources(tmp_path) -> None:
    path = _write(tmp_path, [_bad(GOOD_QUESTION, answerable=False)])
    with pytest.raises(ValueError, match="line 1.*'sources'"):
        load_questions(path)


# ------------------------------------------------------------------ a user's own dataset (RAGAS columns, source forms)


def test_extra_columns_are_ignored_and_listed_once(tmp_path) -> None:
    from evals.quality.dataset import load_questions_with_notes

    path = _write(tmp_path, [_bad(GOOD_QUESTION, notes="x", retrieved_contexts=["c"]),
                             _bad(GOOD_QUESTION, id="q2", notes="y", difficulty=3)])
    questions, ignored = load_questions_with_notes(path)
    assert [q.id for q in questions] == ["q1", "q2"]
    assert ignored == ["difficulty", "notes", "retrieved_contexts"]
    assert [q.id for q in load_questions(path)] == ["q1", "q2"]  # the plain loader still returns the list
    assert load_questions_with_notes(QUESTIONS_FILE)[1] == []


def test_claims_stay_strict(tmp_path) -> None:
    path = _write(tmp_path, [_bad(GOOD_CLAIM, notes="x")])
    with pytest.raises(ValueError, match=r"line 1: field 'notes': Extra inputs are not permitted"):
        load_claims(path)


def test_a_ragas_row_loads_with_defaults(tmp_path) -> None:
    row = {"user_input": "Who chairs it?", "reference": "Alain Berset.",
           "reference_contexts": ["Alain Berset, the secretary general, said…"], "response": "ignored"}
    path = _write(tmp_path, ["", json.dumps(row)])
    (q,) = load_questions(path)
    assert (q.id, q.question, q.reference_answer, q.answerable) == ("line-2", "Who chairs it?", "Alain Berset.", True)
    assert q.reference_contexts == ["Alain Berset, the secretary general, said…"] and q.sources == []


@pytest.mark.parametrize(("names", "ragas"), [("question", "user_input"), ("reference_answer", "reference")])
def test_both_names_for_one_field_is_an_error(tmp_path, names: str, ragas: str) -> None:
    row = {**GOOD_QUESTION, ragas: "the other name"}
    path = _write(tmp_path, [json.dumps(GOOD_QUESTION), json.dumps({**row, "id": "q2"})])
    with pytest.raises(ValueError) as excinfo:
        load_questions(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}, line 2: ") and f"'{names}'" in message and f"'{ragas}'" in message


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"user_input": 3, "reference": "R."}, "user_input"),  # errors name the column the user wrote
        ({"user_input": "Q?", "reference": "R.", "answerable": "yes"}, "answerable"),
        ({"user_input": "Q?", "reference": "R.", "reference_contexts": "one string"}, "reference_contexts"),
        ({"user_input": "Q?", "reference": "R.", "reference_contexts": [" "]}, "reference_contexts"),
        ({"user_input": "Q?", "reference": "R.", "answerable": False, "reference_contexts": ["c"]},
         "reference_contexts"),
        ({"user_input": "Q?", "reference": "R.", "sources": [" 000"]}, "sources"),
        ({"user_input": "Q?", "reference": "R.", "sources": [""]}, "sources"),
        ({"user_input": "Q?", "reference": "R.", "sources": [0]}, "sources"),
        ({"user_input": "Q?", "reference": "R.", "key_facts": [["a", " "]]}, "key_facts"),
        ({"user_input": "Q?", "reference": "R.", "key_facts": [["a", 1]]}, "key_facts"),
        ({"reference": "R."}, "question"),
    ],
)
def test_user_rows_keep_strict_types(tmp_path, row: dict, field: str) -> None:
    path = _write(tmp_path, [json.dumps(row)])
    with pytest.raises(ValueError) as excinfo:
        load_questions(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}, line 1: ") and "\n" not in message, message
    assert re.search(rf"field '{re.escape(field)}[.']", message), message


def test_a_user_dataset_loads_and_scores_end_to_end(tmp_path) -> None:
    from evals.quality import metrics
    from evals.quality.runner import Answered, question_record
    from rag.ingest.scan import article_id_for
    from rag.types import Answer, RetrievedPassage

    rows = [
        {"id": "u1", "question": "How many members?", "reference_answer": "46.", "split": "dev",
         "sources": ["0512.txt", "bbc/sport/0007.txt", article_id_for("bbc/tech/0100.txt"), "000"],
         "key_facts": [["46 member states", "forty-six members"], "Council of Europe"], "annotator": "kb"},
        {"user_input": "Why?", "reference": "Because.", "reference_contexts": ["The court ruled in May."]},
        {"id": "u3", "question": "Who won?", "reference_answer": "The articles do not say.", "answerable": False},
    ]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    from evals.quality.dataset import load_questions_with_notes

    questions, ignored = load_questions_with_notes(path)
    assert [q.id for q in questions] == ["u1", "line-2", "u3"] and ignored == ["annotator"]
    assert questions[0].split == "dev" and questions[0].key_facts[0] == ["46 member states", "forty-six members"]

    def passage(source: str, text: str) -> RetrievedPassage:
        return RetrievedPassage(passage_id=source, article_id=article_id_for(source), source=source, title="T",
                                text=text, start=0, end=len(text), score=1.0, relevance=0.9)

    passages = (passage("bbc/politics/0001.txt", "Other news."),
                passage("bbc/politics/0512.txt", "46 member states."),
                passage("bbc/tech/0100.txt", "The court ruled in May, the article said."))
    answer = Answer(question="q", standalone_question="q", answer="The Council of Europe has forty-six members.",
                    refused=False, passages=passages, backend="extractive", timings={"total": 0.1})
    scored = {"key_fact_recall": 1.0, "key_facts": [], "semantic_similarity": 0.9, "token_f1": 0.9,
              "correctness": 0.95}
    first = question_record(Answered(questions[0], answer), scored, {}, "extractive")["retrieval"]
    assert (first["recall_at_k"], first["reciprocal_rank"]) == (0.5, 0.5)
    assert first["missing_sources"] == ["bbc/sport/0007.txt", "000"]
    second = question_record(Answered(questions[1], answer), scored, {}, "extractive")["retrieval"]
    assert (second["matched_by"], second["recall_at_k"], second["reciprocal_rank"]) == ("reference_contexts", 1.0,
                                                                                          0.3333)
    assert metrics.key_fact_recall(questions[0].key_facts, answer.answer) == 1.0


# ------------------------------------------------------------------ bbc.jsonl (questions over the shared BBC CSV)

BBC_FILE = ROOT / "evals" / "datasets" / "bbc.jsonl"


@pytest.fixture(scope="module")
def bbc_questions() -> list[EvalQuestion]:
    return load_questions(BBC_FILE)


@pytest.fixture(scope="module")
def bbc_rows() -> list[dict[str, str]]:
    """The CSV rows in csv.DictReader order: row i is bbc/{category}/{i:04d}.txt (evals.corpora.write_bbc_articles)."""
    import csv

    from evals.corpora import bbc_csv_path

    path = bbc_csv_path()
    if not path.is_file():
        pytest.skip(f"the shared BBC CSV is not at {path}; bbc.jsonl's grounding cannot be checked without it")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_bbc_question_counts(bbc_questions: list[EvalQuestion]) -> None:
    qs = bbc_questions
    assert len(qs) >= 48
    assert sum(q.answerable for q in qs) >= 36
    assert sum(not q.answerable for q in qs) >= 12
    assert sum(bool(q.history) and q.answerable for q in qs) >= 6
    assert len({s for q in qs for s in q.sources}) >= 25, "answerable questions should spread over 25+ articles"
    assert len({(q.question, tuple(q.history)) for q in qs}) == len(qs), "repeated question"
    assert all(re.fullmatch(r"b[0-9]{2}", q.id) for q in qs)


def test_bbc_answerable_questions_name_stems_and_key_facts(bbc_questions: list[EvalQuestion]) -> None:
    for q in bbc_questions:
        if q.answerable:
            assert q.sources and all(re.fullmatch(r"[0-9]{4}", s) for s in q.sources), q.id
            assert 1 <= len(q.key_facts) <= 4, q.id
            assert q.reference_answer.strip() and not q.reference_answer.startswith("The articles do not say"), q.id


def test_bbc_unanswerable_questions_refuse(bbc_questions: list[EvalQuestion]) -> None:
    for q in bbc_questions:
        if not q.answerable:
            assert not q.sources and not q.key_facts, q.id
            assert q.reference_answer.startswith("The articles do not say"), q.id


def test_bbc_sources_exist_once_in_the_csv(bbc_questions: list[EvalQuestion], bbc_rows: list[dict[str, str]]) -> None:
    texts = Counter(row["text"].strip() for row in bbc_rows)
    for q in bbc_questions:
        for stem in q.sources:
            assert int(stem) < len(bbc_rows), f"{q.id}: no CSV row {stem}"
            # the indexer skips the later copy of an exact duplicate, so a source must be unique text
            assert texts[bbc_rows[int(stem)]["text"].strip()] == 1, f"{q.id}: row {stem} is an exact duplicate"
    categories = Counter(bbc_rows[int(q.sources[0])]["category"].lower() for q in bbc_questions if q.sources)
    assert categories["sports"] >= 10 and categories["politics"] >= 10, categories


def test_bbc_key_fact_words_appear_in_the_source_articles(
    bbc_questions: list[EvalQuestion], bbc_rows: list[dict[str, str]]
) -> None:
    problems = _key_fact_word_problems(bbc_questions, lambda stem: bbc_rows[int(stem)]["text"])
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ dev / test split


@pytest.mark.parametrize("path", [QUESTIONS_FILE, BBC_FILE], ids=["seeds", "bbc"])
def test_datasets_have_balanced_dev_and_test_splits(path: Path) -> None:
    questions = load_questions(path)
    assert all(q.split in ("dev", "test") for q in questions), "every question needs a split"
    halves = {split: [q for q in questions if q.split == split] for split in ("dev", "test")}
    for split, qs in halves.items():
        assert any(q.answerable for q in qs) and any(not q.answerable for q in qs), f"{split} lacks a kind"
        assert any(q.history for q in qs), f"{split} has no follow-up"
    for measure in (len, lambda qs: sum(q.answerable for q in qs), lambda qs: sum(bool(q.history) for q in qs)):
        assert abs(measure(halves["dev"]) - measure(halves["test"])) <= 1


# ------------------------------------------------------------------ pairs.jsonl (near-miss pairs for abstention)

PAIRS_FILE = ROOT / "evals" / "datasets" / "pairs.jsonl"
PAIR_KINDS = {"role", "outcome", "speaker", "detail", "cause"}


@pytest.fixture(scope="module")
def pair_rows() -> list[dict]:
    """The raw rows, for the `kind` column the loader ignores."""
    return [json.loads(line) for line in PAIRS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def pair_questions() -> list[EvalQuestion]:
    return load_questions(PAIRS_FILE)


def test_pairs_load_with_kind_as_the_only_extra_column() -> None:
    from evals.quality.dataset import load_questions_with_notes

    questions, ignored = load_questions_with_notes(PAIRS_FILE)
    assert len(questions) == 80 and ignored == ["kind"]


def test_pairs_are_complete_and_share_split_and_kind(pair_questions: list[EvalQuestion], pair_rows: list[dict]) -> None:
    kinds = {row["id"]: row["kind"] for row in pair_rows}
    ids = [q.id for q in pair_questions]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"p[0-9]{2}[au]", i) for i in ids), ids
    by_pair: dict[str, dict[str, EvalQuestion]] = {}
    for q in pair_questions:
        by_pair.setdefault(q.id[:3], {})[q.id[3]] = q
    assert sorted(by_pair) == [f"p{n:02d}" for n in range(1, 41)]
    for number, pair in by_pair.items():
        assert set(pair) == {"a", "u"}, f"{number} is not a complete pair"
        answerable, unanswerable = pair["a"], pair["u"]
        assert answerable.answerable and not unanswerable.answerable, number
        assert answerable.split == unanswerable.split == ("dev" if int(number[1:]) % 2 else "test"), number
        assert kinds[answerable.id] == kinds[unanswerable.id] and kinds[answerable.id] in PAIR_KINDS, number
        assert not answerable.history and not unanswerable.history, number
    per_kind = Counter(kinds[f"{n}a"] for n in by_pair)
    assert per_kind == dict.fromkeys(PAIR_KINDS, 8), per_kind  # every kind, eight pairs each
    assert Counter(pair["a"].split for pair in by_pair.values()) == {"dev": 20, "test": 20}
    for kind in PAIR_KINDS:
        splits = {by_pair[n]["a"].split for n in by_pair if kinds[f"{n}a"] == kind}
        assert splits == {"dev", "test"}, f"kind {kind} is only in {splits}"


def test_pairs_answers_and_refusals(pair_questions: list[EvalQuestion]) -> None:
    for q in pair_questions:
        if q.answerable:
            assert q.sources and all(re.fullmatch(r"[0-9]{3}|[0-9]{4}", s) for s in q.sources), q.id
            assert {s for s in q.sources if len(s) == 3} <= set(NOT_ARTICLE), q.id
            assert 1 <= len(q.key_facts) <= 3, q.id
            assert not q.reference_answer.startswith("The articles do not say"), q.id
        else:
            assert not q.sources and not q.key_facts, q.id
            assert q.reference_answer.startswith("The articles do not say"), q.id
    seeds = {q.id[:3] for q in pair_questions if q.answerable and len(q.sources[0]) == 3}
    assert len(seeds) >= 6 and {s for q in pair_questions for s in q.sources if len(s) == 3} == set(NOT_ARTICLE)


def test_pairs_seed_key_fact_words_appear_in_the_seed_articles(pair_questions: list[EvalQuestion]) -> None:
    seeded = [q for q in pair_questions if q.sources and all(len(s) == 3 for s in q.sources)]
    assert seeded
    problems = _key_fact_word_problems(seeded, _article_text)
    assert not problems, "\n".join(problems)


def test_pairs_bbc_sources_and_key_fact_words(
    pair_questions: list[EvalQuestion], bbc_rows: list[dict[str, str]]
) -> None:
    texts = Counter(row["text"].strip() for row in bbc_rows)
    bbc = [q for q in pair_questions if q.sources and all(len(s) == 4 for s in q.sources)]
    categories = Counter(bbc_rows[int(q.sources[0])]["category"].lower() for q in bbc)
    assert categories["sports"] >= 17 and categories["politics"] >= 17, categories
    for q in bbc:
        for stem in q.sources:
            assert int(stem) < len(bbc_rows), f"{q.id}: no CSV row {stem}"
            assert texts[bbc_rows[int(stem)]["text"].strip()] == 1, f"{q.id}: row {stem} is an exact duplicate"
    problems = _key_fact_word_problems(bbc, lambda stem: bbc_rows[int(stem)]["text"])
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ blind.jsonl (written blind to the assistant)

BLIND_FILE = ROOT / "evals" / "datasets" / "blind.jsonl"
BLIND_KINDS = {"who_said", "number", "why", "how", "two_part", "fact",
               "detail_missing", "other_speaker", "outcome", "cause", "out_of_corpus"}


@pytest.fixture(scope="module")
def blind_questions() -> list[EvalQuestion]:
    return load_questions(BLIND_FILE)


def _raw_rows(path: Path) -> list[dict]:
    """A file's rows as JSON objects, for the `kind` column the loader ignores."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _check_blind_set(
    qs: list[EvalQuestion], prefix: str, answerable: int | tuple[int, int], unanswerable: int | tuple[int, int],
    history: int | tuple[int, int],
) -> None:
    """Ids run {prefix}01…, odd ids dev and even test; each half has the given numbers of answerable,
    unanswerable and follow-up questions (each as one number for both halves or as (dev, test));
    answerable ones name sources and 1–3 key facts, the others refuse."""
    assert [q.id for q in qs] == [f"{prefix}{n:02d}" for n in range(1, len(qs) + 1)]
    for q in qs:
        assert q.split == ("dev" if int(q.id[len(prefix):]) % 2 else "test"), q.id
        if q.answerable:
            assert q.sources and all(re.fullmatch(r"[0-9]{3}|[0-9]{4}", s) for s in q.sources), q.id
            assert {s for s in q.sources if len(s) == 3} <= set(NOT_ARTICLE), q.id
            assert 1 <= len(q.key_facts) <= 3, q.id
            assert not q.reference_answer.startswith("The articles do not say"), q.id
        else:
            assert not q.sources and not q.key_facts, q.id
            assert q.reference_answer.startswith("The articles do not say"), q.id
    def per_half(count: int | tuple[int, int]) -> dict[str, int]:
        return dict(zip(("dev", "test"), count if isinstance(count, tuple) else (count, count)))

    for split in ("dev", "test"):
        half = [q for q in qs if q.split == split]
        assert sum(q.answerable for q in half) == per_half(answerable)[split], split
        assert sum(not q.answerable for q in half) == per_half(unanswerable)[split], split
        assert sum(bool(q.history) for q in half) == per_half(history)[split], split


def _bbc_stems(qs: list[EvalQuestion]) -> set[str]:
    return {s for q in qs for s in q.sources if len(s) == 4}


def _check_key_fact_words(qs: list[EvalQuestion], bbc_rows: list[dict[str, str]], seeded: int, bbc: int) -> None:
    """Every key fact's content words are in its source articles (seed article text, or the BBC CSV row)."""
    seed_qs = [q for q in qs if q.sources and all(len(s) == 3 for s in q.sources)]
    bbc_qs = [q for q in qs if q.sources and all(len(s) == 4 for s in q.sources)]
    assert (len(seed_qs), len(bbc_qs)) == (seeded, bbc)
    problems = _key_fact_word_problems(seed_qs, _article_text)
    problems += _key_fact_word_problems(bbc_qs, lambda stem: bbc_rows[int(stem)]["text"])
    assert not problems, "\n".join(problems)


def _bbc_stems_used_by(*paths: Path) -> set[str]:
    """The BBC rows the question files at ``paths`` and the BBC claims of claims.jsonl are written from."""
    claims_file_stems = {c.source for c in load_claims(CLAIMS_FILE) if len(c.source) == 4}
    return _bbc_stems([q for path in paths for q in load_questions(path)]) | claims_file_stems


def _check_distinct_sources(qs: list[EvalQuestion], bbc_rows: list[dict[str, str]], per_category: int) -> None:
    """No source row has a (near-)duplicate in the CSV, and sport and politics each give ``per_category`` or more."""
    texts = Counter(row["text"].strip() for row in bbc_rows)
    openings = Counter(row["text"].strip()[:200] for row in bbc_rows)
    categories: Counter[str] = Counter()
    for stem in _bbc_stems(qs):
        text = bbc_rows[int(stem)]["text"].strip()
        assert texts[text] == 1 and openings[text[:200]] == 1, f"row {stem} has a (near-)duplicate in the CSV"
        categories[bbc_rows[int(stem)]["category"].lower()] += 1
    assert categories["sports"] >= per_category and categories["politics"] >= per_category, categories


def test_blind_questions_load_with_kind_as_the_only_extra_column() -> None:
    from evals.quality.dataset import load_questions_with_notes

    questions, ignored = load_questions_with_notes(BLIND_FILE)
    assert len(questions) == 54 and ignored == ["kind"]
    assert {row["kind"] for row in _raw_rows(BLIND_FILE)} == BLIND_KINDS


def test_blind_questions_answers_refusals_and_splits(blind_questions: list[EvalQuestion]) -> None:
    _check_blind_set(blind_questions, "n", answerable=20, unanswerable=7, history=2)
    used_before = _bbc_stems([q for path in (BBC_FILE, PAIRS_FILE) for q in load_questions(path)])
    assert not used_before & _bbc_stems(blind_questions), "a blind question reuses another dataset's article"


def test_blind_key_fact_words_appear_in_the_source_articles(
    blind_questions: list[EvalQuestion], bbc_rows: list[dict[str, str]]
) -> None:
    _check_key_fact_words(blind_questions, bbc_rows, seeded=8, bbc=32)


# ------------------------------------------------------------------ blind2.jsonl (a second blind set, weighted to abstention)

BLIND2_FILE = ROOT / "evals" / "datasets" / "blind2.jsonl"
BLIND2_ANSWERABLE_KINDS = {"who_said", "number", "why", "how", "two_part", "fact"}
BLIND2_UNANSWERABLE_KINDS = {"missing_detail", "other_speaker", "outcome", "cause", "number_role", "out_of_corpus"}


@pytest.fixture(scope="module")
def blind2_questions() -> list[EvalQuestion]:
    return load_questions(BLIND2_FILE)


def test_blind2_questions_load_with_kind_as_the_only_extra_column() -> None:
    from evals.quality.dataset import load_questions_with_notes

    questions, ignored = load_questions_with_notes(BLIND2_FILE)
    assert len(questions) == 56 and ignored == ["kind"]
    kinds = {row["id"]: row["kind"] for row in _raw_rows(BLIND2_FILE)}
    for q in questions:
        assert kinds[q.id] in (BLIND2_ANSWERABLE_KINDS if q.answerable else BLIND2_UNANSWERABLE_KINDS), q.id
    assert set(kinds.values()) == BLIND2_ANSWERABLE_KINDS | BLIND2_UNANSWERABLE_KINDS
    assert Counter(kinds.values())["out_of_corpus"] == 2


def test_blind2_questions_answers_refusals_and_splits(blind2_questions: list[EvalQuestion]) -> None:
    qs = blind2_questions
    _check_blind_set(qs, "m", answerable=14, unanswerable=14, history=2)
    assert all(not q.history or q.answerable for q in qs), "the follow-ups are answerable"
    assert len({(q.question, tuple(q.history)) for q in qs}) == len(qs), "repeated question"
    answered = Counter(s for q in qs for s in q.sources if len(s) == 4)
    assert len(answered) == 22 and max(answered.values()) == 1, answered  # one answerable question per BBC article
    used_before = _bbc_stems_used_by(QUESTIONS_FILE, BBC_FILE, PAIRS_FILE, BLIND_FILE)
    assert not used_before & _bbc_stems(qs), "a blind2 question reuses another dataset's article"


def test_blind2_key_fact_words_appear_in_the_source_articles(
    blind2_questions: list[EvalQuestion], bbc_rows: list[dict[str, str]]
) -> None:
    _check_key_fact_words(blind2_questions, bbc_rows, seeded=6, bbc=22)
    _check_distinct_sources(blind2_questions, bbc_rows, per_category=10)


# ------------------------------------------------------------------ blind3.jsonl (answers and refusals, same shapes)

BLIND3_FILE = ROOT / "evals" / "datasets" / "blind3.jsonl"
# Each answerable shape mirrors an unanswerable kind: result/outcome, body_said and who_said/other_speaker,
# why/cause, number/number_role.
BLIND3_ANSWERABLE_KINDS = {"result": 6, "body_said": 5, "why": 6, "number": 6, "who_said": 4}  # without follow-ups
BLIND3_UNANSWERABLE_KINDS = {"outcome": 6, "other_speaker": 6, "cause": 6, "number_role": 6, "missing_detail": 4,
                             "out_of_corpus": 2}
# The rows blind2's unanswerable questions were written from (they name no sources, so the files cannot tell).
BLIND2_UNANSWERABLE_ROWS = {"0110", "0214", "0278", "0306", "0369", "0386", "0424", "0457", "0487", "0819", "0861",
                            "0869"}


@pytest.fixture(scope="module")
def blind3_questions() -> list[EvalQuestion]:
    return load_questions(BLIND3_FILE)


def test_blind3_questions_load_with_kind_as_the_only_extra_column() -> None:
    from evals.quality.dataset import load_questions_with_notes

    questions, ignored = load_questions_with_notes(BLIND3_FILE)
    assert len(questions) == 60 and ignored == ["kind"]
    kinds = {row["id"]: row["kind"] for row in _raw_rows(BLIND3_FILE)}
    for q in questions:
        assert kinds[q.id] in (BLIND3_ANSWERABLE_KINDS if q.answerable else BLIND3_UNANSWERABLE_KINDS), q.id
    assert Counter(kinds[q.id] for q in questions if q.answerable and not q.history) == BLIND3_ANSWERABLE_KINDS
    assert Counter(kinds[q.id] for q in questions if not q.answerable) == BLIND3_UNANSWERABLE_KINDS
    for split in ("dev", "test"):  # both halves have every kind
        assert {kinds[q.id] for q in questions if q.split == split} == set(BLIND3_ANSWERABLE_KINDS) | set(
            BLIND3_UNANSWERABLE_KINDS
        ), split


def test_blind3_questions_answers_refusals_and_splits(blind3_questions: list[EvalQuestion]) -> None:
    qs = blind3_questions
    _check_blind_set(qs, "k", answerable=15, unanswerable=15, history=(1, 2))
    assert [q.answerable for q in qs] == [True] * 30 + [False] * 30
    assert all(not q.history or q.answerable for q in qs), "the follow-ups are answerable"
    assert all(len(q.history) == 1 for q in qs if q.history), "a follow-up has one earlier turn"
    assert len({(q.question, tuple(q.history)) for q in qs}) == len(qs), "repeated question"
    assert all(len(set(q.sources)) == len(q.sources) for q in qs), "a source named twice"
    answered = Counter(s for q in qs for s in q.sources if len(s) == 4)
    assert len(answered) == 25 and max(answered.values()) == 1, answered  # one answerable question per BBC article
    used_before = _bbc_stems_used_by(QUESTIONS_FILE, BBC_FILE, PAIRS_FILE, BLIND_FILE, BLIND2_FILE)
    reused = (used_before | BLIND2_UNANSWERABLE_ROWS) & _bbc_stems(qs)
    assert not reused, f"blind3 reuses another dataset's articles: {sorted(reused)}"


def test_blind3_key_fact_words_appear_in_the_source_articles(
    blind3_questions: list[EvalQuestion], bbc_rows: list[dict[str, str]]
) -> None:
    _check_key_fact_words(blind3_questions, bbc_rows, seeded=5, bbc=25)
    _check_distinct_sources(blind3_questions, bbc_rows, per_category=10)


# ------------------------------------------------------------------ blind4.jsonl (a fourth blind set, unread rows)

BLIND4_FILE = ROOT / "evals" / "datasets" / "blind4.jsonl"
BLIND4_ANSWERABLE_KINDS = {"who_said": 4, "number": 3, "reason": 3, "result": 3, "yes_no": 3, "who_is": 3,
                           "two_part": 3, "follow_up": 3}
BLIND4_UNANSWERABLE_KINDS = {"missing_detail": 4, "other_speaker": 4, "outcome_of_preview": 4, "cause_not_given": 4,
                             "number_other_role": 5, "out_of_corpus": 4}


@pytest.fixture(scope="module")
def blind4_questions() -> list[EvalQuestion]:
    return load_questions(BLIND4_FILE)


def _check_fifty_of_six_kinds(path: Path, prefix: str, qs: list[EvalQuestion], earlier: tuple[Path, ...]) -> None:
    """blind4's shape: 25 answerable of eight kinds, then 25 unanswerable of six; odd ids dev; follow-ups are the ones
    with history; rows no earlier set (nor blind2's unanswerable questions) uses."""
    from evals.quality.dataset import load_questions_with_notes

    loaded, ignored = load_questions_with_notes(path)
    assert loaded == qs and ignored == ["kind"]
    kinds = {row["id"]: row["kind"] for row in _raw_rows(path)}
    assert Counter(kinds[q.id] for q in qs if q.answerable) == BLIND4_ANSWERABLE_KINDS
    assert Counter(kinds[q.id] for q in qs if not q.answerable) == BLIND4_UNANSWERABLE_KINDS
    _check_blind_set(qs, prefix, answerable=(13, 12), unanswerable=(12, 13), history=(2, 1))
    assert len(qs) == 50 and [q.answerable for q in qs] == [True] * 25 + [False] * 25
    for q in qs:
        assert bool(q.history) == (kinds[q.id] == "follow_up"), q.id
        if q.answerable:
            assert len(q.key_facts) >= 2 and len(set(q.sources)) == len(q.sources), q.id
    reused = (_bbc_stems_used_by(*earlier) | BLIND2_UNANSWERABLE_ROWS) & _bbc_stems(qs)
    assert not reused, f"{path.name} reuses another dataset's articles: {sorted(reused)}"


BLIND4_EARLIER = (QUESTIONS_FILE, BBC_FILE, PAIRS_FILE, BLIND_FILE, BLIND2_FILE, BLIND3_FILE)


def test_blind4_questions_kinds_answers_refusals_and_splits(blind4_questions: list[EvalQuestion]) -> None:
    _check_fifty_of_six_kinds(BLIND4_FILE, "q", blind4_questions, BLIND4_EARLIER)

def test_blind4_key_fact_words_appear_in_the_source_articles(
    blind4_questions: list[EvalQuestion], bbc_rows: list[dict[str, str]]
) -> None:
    _check_key_fact_words(blind4_questions, bbc_rows, seeded=1, bbc=24)
    _check_distinct_sources(blind4_questions, bbc_rows, per_category=10)


# ------------------------------------------------------------------ blind5.jsonl (a fifth blind set, unread rows)

BLIND5_FILE = ROOT / "evals" / "datasets" / "blind5.jsonl"


@pytest.fixture(scope="module")
def blind5_questions() -> list[EvalQuestion]:
    return load_questions(BLIND5_FILE)


def test_blind5_questions_kinds_answers_refusals_and_splits(blind5_questions: list[EvalQuestion]) -> None:
    _check_fifty_of_six_kinds(BLIND5_FILE, "r", blind5_questions, (*BLIND4_EARLIER, BLIND4_FILE))

def test_blind5_key_fact_words_appear_in_the_source_articles(
    blind5_questions: list[EvalQuestion], bbc_rows: list[dict[str, str]]
) -> None:
    _check_key_fact_words(blind5_questions, bbc_rows, seeded=0, bbc=25)
    _check_distinct_sources(blind5_questions, bbc_rows, per_category=10)
