"""The evaluation metrics on hand-made cases (pure functions, small fakes, no model)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from evals.quality import metrics
from evals.quality.dataset import EvalQuestion
from evals.quality.judges import JudgeItem
from evals.quality.runner import Answered, aggregate, claim_evidence, judge_answers, question_record
from rag.text import plain_answer
from rag.types import Answer, Citation, RetrievedPassage

SOURCES = ["000_f14baaa9ae4bf647.txt", "news/001_x.txt", "002_efe52085fdfc4464.txt"]


# --- retrieval ---------------------------------------------------------------------------


def test_source_prefix_matches_a_whole_file_name_token() -> None:
    assert metrics.source_matches("000", "000_f14baaa9ae4bf647.txt")
    assert metrics.source_matches("001", "news/001_x.txt")
    assert metrics.source_matches("000", "000.txt") and metrics.source_matches("000", "000")
    assert not metrics.source_matches("000", "0001_x.txt")
    assert not metrics.source_matches("001", "x/000_001.txt")


def test_recall_at_k() -> None:
    assert metrics.recall_at_k(["000"], SOURCES) == 1.0
    assert metrics.recall_at_k(["000", "003"], SOURCES) == 0.5
    assert metrics.recall_at_k(["003"], SOURCES) == 0.0
    assert metrics.recall_at_k(["000", "001", "002"], SOURCES[:1]) == pytest.approx(1 / 3)
    assert metrics.recall_at_k([], SOURCES) is None  # no sources: not measured, not zero


def test_reciprocal_rank() -> None:
    assert metrics.reciprocal_rank(["000"], SOURCES) == 1.0
    assert metrics.reciprocal_rank(["002"], SOURCES) == pytest.approx(1 / 3)
    assert metrics.reciprocal_rank(["002", "001"], SOURCES) == 0.5  # the first passage of any expected source
    assert metrics.reciprocal_rank(["009"], SOURCES) == 0.0
    assert metrics.reciprocal_rank([], SOURCES) is None


# --- correctness -------------------------------------------------------------------------


def test_token_f1_is_squad_style() -> None:
    assert metrics.token_f1("The cat sat.", "a cat sat") == 1.0  # articles and punctuation removed
    assert metrics.token_f1("cat sat on mat", "cat sat") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert metrics.token_f1("dog", "cat") == 0.0
    assert metrics.token_f1("", "") == 1.0 and metrics.token_f1("", "cat") == 0.0
    assert metrics.token_f1("“Spring 2026”", "spring 2026") == 1.0  # Unicode punctuation too
    assert metrics.normalize_answer("An Apple, the Pear!") == "apple pear"


def test_key_facts_use_stemmed_content_words() -> None:
    answer = "Starmer said quitting would jeopardise the deportation deals [1]."
    assert metrics.key_fact_conveyed("jeopardise deportation deals", answer)
    assert metrics.key_fact_conveyed("jeopardises a deportation deal", answer)  # stemmed; stop words ignored
    assert not metrics.key_fact_conveyed("refuse to sign agreements", answer)
    # 4 of 5 content words = 80 %: conveyed; 3 of 5: not.
    five = "alpha bravo charlie delta echo"
    assert metrics.key_fact_share(five, "alpha bravo charlie delta") == 0.8
    assert metrics.key_fact_conveyed(five, "alpha bravo charlie delta")
    assert not metrics.key_fact_conveyed(five, "alpha bravo charlie")
    assert metrics.key_fact_conveyed("46 member states", "all 46 states that are members")
    assert not metrics.key_fact_conveyed("46 member states", "47 member states")  # numbers are words


def test_key_fact_recall() -> None:
    facts = ["jeopardise deportation deals", "refuse to sign agreements", "international law"]
    answer = "Leaving would jeopardise deportation deals and breach international law."
    assert metrics.key_fact_recall(facts, answer) == pytest.approx(2 / 3)
    assert metrics.key_fact_recall([], answer) is None


def test_correctness_and_markers() -> None:
    assert metrics.correctness(0.5, 0.9) == pytest.approx(0.7)
    assert metrics.correctness(None, 0.8) == 0.8
    assert metrics.correctness(1.0, -0.2) == 0.5  # similarity clipped to 0..1
    assert plain_answer("It rose [1][2]. Then fell [3, 4] .") == "It rose. Then fell."


# --- refusals and binary decisions ----------------------------------------------------------


def test_refusal_precision_and_recall() -> None:
    # (answerable, refused): 2 unanswerable refused, 1 unanswerable answered, 1 answerable refused, 2 answered.
    outcomes = [(False, True), (False, True), (False, False), (True, True), (True, False), (True, False)]
    conf = metrics.refusal_confusion(outcomes)
    assert (conf.tp, conf.fp, conf.fn, conf.tn) == (2, 1, 1, 2)
    assert conf.precision == pytest.approx(2 / 3)  # one of three refusals was a false refusal
    assert conf.recall == pytest.approx(2 / 3)  # one unanswerable question was answered
    none = metrics.refusal_confusion([(True, False)])
    assert none.precision is None and none.recall is None


def test_balanced_accuracy_and_best_threshold() -> None:
    labels = [True, True, True, False, False, False, False, False]
    conf = metrics.Confusion.of(zip(labels, [True, True, False, False, False, False, False, True], strict=True))
    assert conf.recall == pytest.approx(2 / 3) and conf.specificity == pytest.approx(4 / 5)
    assert conf.balanced_accuracy == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert conf.accuracy == pytest.approx(6 / 8)
    scores = [0.9, 0.8, 0.7, 0.6, 0.3, 0.2, 0.1, 0.65]
    threshold, ba = metrics.best_threshold(labels, scores)
    assert (threshold, ba) == (0.7, 1.0)
    assert metrics.best_threshold([True, False], [0.5, 0.5]) == (0.5, 0.5)  # ties resolved deterministically


def test_percentiles() -> None:
    assert metrics.median([3.0, 1.0, 2.0]) == 2.0
    assert metrics.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert metrics.percentile(list(map(float, range(101))), 95) == 95.0
    assert metrics.percentile([], 95) is None and metrics.mean([]) is None and metrics.share([]) is None


# --- faithfulness counting with a fake judge -----------------------------------------------


class WordJudge:
    """Supported when every word of the claim (minus punctuation) appears in the evidence."""

    name = "fake"
    model = "words"
    threshold = 0.5

    def fingerprint(self) -> str:
        return "words"

    def scores(self, items: Sequence[JudgeItem]) -> list[float | None]:
        def words(text: str) -> set[str]:
            return {w.strip(".,\"'").lower() for w in text.split()}

        return [float(words(i.claim) <= words(i.evidence)) for i in items]


def _passage(pid: str, text: str, source: str = "000_a.txt") -> RetrievedPassage:
    return RetrievedPassage(passage_id=pid, article_id="a", source=source, title="T", text=text, start=0,
                            end=len(text), score=1.0, relevance=0.9)


def _citation(marker: int, pid: str, quote: str) -> Citation:
    return Citation(marker=marker, passage_id=pid, article_id="a", source="000_a.txt", title="T", quote=quote,
                    start=0, end=len(quote), support=1.0)


def _answer(text: str, citations: tuple[Citation, ...], passages: tuple[RetrievedPassage, ...],
            refused: bool = False) -> Answer:
    return Answer(question="q", standalone_question="q", answer=text, refused=refused, citations=citations,
                  passages=passages, backend="extractive", timings={"retrieval": 0.1, "total": 0.2})


def test_faithfulness_counts_sentences_and_citations() -> None:
    p1 = _passage("p1", "Cats sleep all day. Dogs bark at night.")
    p2 = _passage("p2", "Birds sing in the morning.", "001_b.txt")
    answer = _answer(
        "Cats sleep all day [1]. Dogs bark at night [1]. Birds sing in the morning [2]. Birds fly south [2]. "
        "Fish swim.",
        (_citation(1, "p1", "Cats sleep all day."), _citation(2, "p2", "Birds sing in the morning.")),
        (p1, p2),
    )
    evidence = claim_evidence(answer)
    assert [c.text for c in evidence] == ["Cats sleep all day.", "Dogs bark at night.", "Birds sing in the morning.",
                                          "Birds fly south.", "Fish swim."]
    assert [c.markers for c in evidence] == [(1,), (1,), (2,), (2,), ()]
    assert evidence[4].passages is None  # an uncited sentence is unsupported without asking a judge
    result = judge_answers(WordJudge(), {"q1": evidence})["q1"]
    # Sentence 2 is supported by its cited passage p1, though not by the quote of [1].
    assert [c["supported"] for c in result["claims"]] == [True, True, True, False, False]
    assert result["faithfulness"] == 0.6
    assert [[x["supports"] for x in c["citations"]] for c in result["claims"]] == [[True], [False], [True], [False], []]

    q = EvalQuestion(id="q1", question="q", answerable=True, reference_answer="Cats sleep all day.",
                     sources=["000"], key_facts=["cats sleep"])
    record = question_record(
        Answered(q, answer),
        {"key_fact_recall": 1.0, "key_facts": [{"fact": "cats sleep", "share": 1.0, "conveyed": True}],
         "semantic_similarity": 0.8, "token_f1": 0.5, "correctness": 0.9},
        {"fake": result},
        "extractive",
    )
    refused_q = EvalQuestion(id="q2", question="r", answerable=False, reference_answer="The articles do not say.")
    refused = question_record(Answered(refused_q, _answer("The articles don't cover this.", (), (p1,), True)),
                              None, {}, "extractive")
    totals = aggregate([record, refused], ["fake"], "extractive")["faithfulness"]["fake"]
    assert totals["faithfulness"] == 0.6 and totals["answers"] == 1 and totals["refusals_excluded"] == 1
    assert (totals["claims"], totals["supported_claims"], totals["uncited_claims"]) == (5, 3, 1)
    assert totals["citation_precision"] == 0.5  # 2 of 4 citations support the sentence citing them
    assert totals["citation_recall"] == 0.4  # 2 of 5 sentences have a supporting citation
    assert record["outcome"] == "correct" and refused["outcome"] == "correct_refusal"
    assert any("unsupported" in f for f in record["failures"]) and not refused["failures"]


def test_a_marker_covers_the_unmarked_sentences_before_it() -> None:
    p1 = _passage("p1", "Cats sleep all day. They wake at night. Dogs bark.")
    quote = "Cats sleep all day. They wake at night."
    answer = _answer("Cats sleep all day. They wake at night [1]. Dogs bark.", (_citation(1, "p1", quote),), (p1,))
    evidence = claim_evidence(answer)
    assert [(c.text, c.markers, c.inherited) for c in evidence] == [
        ("Cats sleep all day.", (1,), True), ("They wake at night.", (1,), False), ("Dogs bark.", (), False)]
    result = judge_answers(WordJudge(), {"q": evidence})["q"]
    assert [c["supported"] for c in result["claims"]] == [True, True, False]  # nothing follows "Dogs bark."


# --- datasets in the user's terms: source names, key-fact groups, reference contexts ----------------


@pytest.mark.parametrize(
    ("expected", "source", "article_id", "matches"),
    [
        ("000", "000_f14baaa9ae4bf647.txt", None, True),  # seed-style prefix
        ("000", "0001_x.txt", None, False),
        ("0512.txt", "bbc/politics/0512.txt", None, True),  # file name
        ("0512.txt", "bbc/politics/05120.txt", None, False),
        ("0512", "bbc/politics/0512.txt", None, True),  # stem
        ("0512", "bbc/politics/0512-copy001.txt", None, False),  # a scale-out copy is another article
        ("bbc/politics/0512.txt", "bbc/politics/0512.txt", None, True),  # corpus-relative path
        ("politics/0512.txt", "bbc/politics/0512.txt", None, True),  # the path's last components
        ("./bbc/politics/0512.txt", "bbc/politics/0512.txt", None, True),
        ("bbc\\politics\\0512.txt", "bbc/politics/0512.txt", None, True),
        ("sport/0512.txt", "bbc/politics/0512.txt", None, False),  # same name, another folder
        ("litics/0512.txt", "bbc/politics/0512.txt", None, False),  # folders match whole
        ("000_f14baaa9ae4bf647.txt", "000_f14baaa9ae4bf647.txt", None, True),
        ("1a2b3c4d5e6f7a8b", "bbc/politics/0512.txt", "1a2b3c4d5e6f7a8b", True),  # article id
        ("1a2b3c4d5e6f7a8b", "bbc/politics/0512.txt", "ffffffffffffffff", False),
        ("1a2b3c4d5e6f7a8b", "bbc/politics/0512.txt", None, False),
        ("bbc/", "bbc/politics/0512.txt", None, False),  # no file name
    ],
)
def test_every_source_form_names_its_article(expected: str, source: str, article_id: str | None,
                                             matches: bool) -> None:
    assert metrics.source_matches(expected, source, article_id) is matches


def test_an_article_id_from_rag_matches_its_file() -> None:
    from rag.ingest.scan import article_id_for

    source = "bbc/politics/0512.txt"
    assert metrics.source_matches(article_id_for(source), source, article_id_for(source))
    assert not metrics.source_matches(article_id_for("bbc/politics/0513.txt"), source, article_id_for(source))


def test_retrieval_metrics_take_article_ids_along_with_sources() -> None:
    retrieved = [("bbc/sport/0001.txt", "id1"), ("bbc/politics/0512.txt", "id2"), ("000_f14b.txt", "id3")]
    expected = ["id2", "000", "0099.txt"]
    assert metrics.recall_at_k(expected, retrieved) == pytest.approx(2 / 3)
    assert metrics.reciprocal_rank(expected, retrieved) == 0.5
    assert metrics.missing_sources(expected, retrieved) == ["0099.txt"]
    assert metrics.missing_sources([], retrieved) == []
    assert metrics.recall_at_k(["0512"], ["bbc/politics/0512.txt"]) == 1.0  # plain sources still work


def test_key_fact_groups_count_when_any_alternative_is_conveyed() -> None:
    answer = "The Council of Europe has 46 member states [1]."
    group = ["forty-six members", "46 member states"]
    assert metrics.fact_conveyed(group, answer) and metrics.fact_conveyed("46 member states", answer)
    assert not metrics.fact_conveyed(["47 member states", "EU"], answer)
    assert metrics.key_fact_share(["alpha bravo", "council europe states"], answer) == 1.0  # the best alternative
    assert metrics.key_fact_share(["alpha bravo", "council alpha"], answer) == 0.5
    assert metrics.key_fact_share([], answer) == 0.0
    assert metrics.key_fact_recall(["46 member states", ["EU", "Council of Europe"], ["Brussels"]],
                                   answer) == pytest.approx(2 / 3)
    assert metrics.fact_label(["EU", "Council of Europe"]) == "EU | Council of Europe"
    assert metrics.fact_label("46 member states") == "46 member states"


def test_reference_contexts_are_found_by_containment_or_word_overlap() -> None:
    passage = "Starmer said leaving the ECHR would jeopardise deportation deals.  It would also breach law."
    assert metrics.context_found("STARMER said leaving the ECHR\nwould jeopardise", passage)  # case and spaces aside
    assert metrics.context_found(passage + " And more text after the passage.", passage)  # the passage within it
    assert metrics.context_found("Leaving the ECHR jeopardises deals on deportation, Starmer said.", passage)
    assert not metrics.context_found("Farage wants to leave the ECHR within a year.", passage)
    contexts = ["Farage wants to leave the ECHR within a year.", "would jeopardise deportation deals"]
    assert metrics.context_recall(contexts, ["unrelated text", passage]) == 0.5
    assert metrics.context_reciprocal_rank(contexts, ["unrelated text", passage]) == 0.5
    assert metrics.missing_contexts(contexts, [passage]) == contexts[:1]
    assert metrics.context_recall([], [passage]) is None


def test_question_record_scores_retrieval_by_ids_or_reference_contexts() -> None:
    p1 = RetrievedPassage(passage_id="p1", article_id="1a2b3c4d5e6f7a8b", source="bbc/politics/0512.txt",
                          title="T", text="Cats sleep all day.", start=0, end=19, score=1.0, relevance=0.9)
    answer = _answer("Cats sleep all day [1].", (_citation(1, "p1", "Cats sleep all day."),), (p1,))
    scored = {"key_fact_recall": None, "key_facts": [], "semantic_similarity": 0.9, "token_f1": 0.9,
              "correctness": 0.9}
    by_id = EvalQuestion(id="q1", question="q", reference_answer="r", sources=["1a2b3c4d5e6f7a8b", "0513.txt"])
    retrieval = question_record(Answered(by_id, answer), scored, {}, "extractive")["retrieval"]
    assert retrieval == {"matched_by": "sources", "recall_at_k": 0.5, "reciprocal_rank": 1.0,
                         "missing_sources": ["0513.txt"]}
    by_context = EvalQuestion(id="q2", question="q", reference_answer="r",
                              reference_contexts=["cats sleep all day.", "Dogs bark at night."])
    record = question_record(Answered(by_context, answer), scored, {}, "extractive")
    assert record["retrieval"]["matched_by"] == "reference_contexts"
    assert (record["retrieval"]["recall_at_k"], record["retrieval"]["reciprocal_rank"]) == (0.5, 1.0)
    assert record["retrieval"]["missing_contexts"] == ["Dogs bark at night."]
    assert any("reference context(s) not in any retrieved passage" in f for f in record["failures"])
    neither = EvalQuestion(id="q3", question="q", reference_answer="r")
    assert question_record(Answered(neither, answer), scored, {}, "extractive")["retrieval"] is None


def test_report_rows_show_a_key_fact_group_joined(tmp_path) -> None:
    from evals.quality.runner import score_correctness
    from tests.conftest import make_settings

    q = EvalQuestion(id="q1", question="q", reference_answer="r", key_facts=["a fact", ["one way", "another"]])
    refused = _answer("The articles don't cover this.", (), (), refused=True)  # no text: no embedder needed
    rows = score_correctness([Answered(q, refused)], make_settings(tmp_path))["q1"]["key_facts"]
    assert [row["fact"] for row in rows] == ["a fact", "one way | another"]
    assert all(row["conveyed"] is False and row["share"] == 0.0 for row in rows)


def test_reports_list_the_ignored_dataset_columns() -> None:
    from evals.quality.report import render_html, render_markdown

    counts = {"total": 0, "answerable": 0, "unanswerable": 0, "with_history": 0, "errors": 0, "fallbacks": 0}
    report = {"dataset": {"path": "mine.jsonl", "sha256": "ab" * 32, "ignored_columns": ["annotator", "response"]},
              "model": {"backend": "extractive", "temperature": 0}, "index": {}, "judges": {}, "created": "now",
              "settings": {"top_k": 5, "min_support": 0.5, "min_relevance": 0.2}, "seconds": 1, "versions": {},
              "questions": [], "aggregates": {"questions": counts, "dropped_sentences": 0}}
    line = "Ignored dataset columns:** annotator, response"
    assert sum(line in row for row in render_markdown(report).splitlines()) == 1
    assert "<li>Ignored dataset columns: annotator, response" in render_html(report)
    report["dataset"]["ignored_columns"] = []
    assert "Ignored" not in render_markdown(report)
