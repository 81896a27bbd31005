"""Names typed with accents match articles written without them, and the other way round."""

from __future__ import annotations

import pytest

from rag.index.bm25 import LexicalIndex
from rag.text import fold_accents, missing_names, names, terms


def test_accents_are_folded_and_ascii_is_untouched() -> None:
    assert fold_accents("Arsène Wenger, Søren Müller, Ibrahimović, Straße") == (
        "Arsene Wenger, Soren Muller, Ibrahimovic, Strasse")
    text = "plain ASCII, with 'quotes' and $10m"
    assert fold_accents(text) is text


@pytest.mark.parametrize(("question", "context"), [
    ("What did Arsène Wenger make of the fine?", "arsene wenger said the fine was too lenient"),
    ("What did Jose Mourinho say?", "José Mourinho said he was happy"),
])
def test_a_name_with_or_without_accents_is_the_same_name(question: str, context: str) -> None:
    assert missing_names(question, context) == frozenset()
    assert "arsene" in names("They asked Arsène.") and "arsene" in terms("Arsène").content


@pytest.mark.parametrize(("query", "text"), [("Arsene Wenger", "Arsène Wenger praised Clichy"),
                                             ("Arsène Wenger", "arsene wenger praised clichy")])
def test_bm25_finds_a_name_whichever_way_it_is_written(query: str, text: str) -> None:
    index = LexicalIndex.build([("p1", text), ("p2", "Mourinho praised Drogba"), ("p3", "Ferguson praised Rooney")], 1)
    hits = index.search(query, 3)
    assert hits and hits[0].passage_id == "p1"


def test_the_speaker_check_reads_accented_names_as_its_name_parts_do() -> None:
    from rag.answer.checks import speaker_mismatch

    spans = ["Arsène Wenger said the fine was far too lenient."]
    asked: list[object] = []

    def ask(messages: object) -> str:
        asked.append(messages)
        return "Wenger"

    # "Arsène" is named: not "the retrieved passages never mention Arsène", and the model's "Wenger" is him
    assert speaker_mismatch("What did Arsène say about the fine?", "far too lenient", spans, spans[0], ask) is None
    assert asked
