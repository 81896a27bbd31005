"""The names a question asks for, found in passages that clip them ("Lib Dems") or spell them out."""

from __future__ import annotations

import pytest

from rag.text import abbreviated_names, missing_names


@pytest.mark.parametrize(
    ("question", "text", "found"),
    [
        ("Who have the Liberal Democrats hired?", "the lib dems have appointed", {"liberal", "democrats"}),
        ("Who have the Liberal Democrats hired?", "a lib dem spokesman said", {"liberal", "democrats"}),
        ("Why are the Lib Dems angry?", "the liberal democrats said", {"lib", "dems"}),
        ("What did Manchester United pay?", "man united paid", {"manchester", "united"}),
    ],
)
def test_a_clipped_two_word_name_counts_as_named(question: str, text: str, found: set[str]) -> None:
    assert abbreviated_names(question, text) == found


@pytest.mark.parametrize(
    ("question", "text"),
    [
        # Spelled the same: ordinary name coverage finds it, not this rule.
        ("Who have the Liberal Democrats hired?", "the liberal democrats have appointed"),
        # One clipped word is not enough: "man" is a word of its own.
        ("What did Manchester United pay?", "the man paid"),
        # "utd" is not a clipped "united" (not a prefix).
        ("What did Manchester United pay?", "man utd paid"),
        ("Did Carlton Cole play?", "the car collapsed"),
        # Two-letter clips are too common to count.
        ("Did Leeds United win?", "le un won"),
        # A one-word name has no pair to clip.
        ("What did Farage say?", "far said"),
        # Names in two sentences are not one name.
        ("Who is Liberal? Democrats know.", "lib dems said"),
    ],
)
def test_other_words_do_not_count(question: str, text: str) -> None:
    assert abbreviated_names(question, text) == frozenset()


@pytest.mark.parametrize(
    ("text", "context"),
    [
        ("What did Denmark's prime minister write?", "Sir Keir and his Danish counterpart wrote in The Guardian"),
        ("What did the French leader say?", "Bardella would overhaul France's immigration policy"),
        ("How many British soldiers are on standby?", "troops from Britain are on standby"),
    ],
)
def test_a_country_is_named_by_the_word_for_its_people(text: str, context: str) -> None:
    assert missing_names(text, context) == frozenset()


def test_another_country_is_still_missing() -> None:
    assert missing_names("What did Sweden's prime minister write?", "his Danish counterpart wrote") == {"sweden"}


@pytest.mark.parametrize(
    ("text", "context"),
    [
        ("What do the SNP and the Tories say about super-casinos?", "the scottish national party and the tories say"),
        ("What did the FAW decide?", "the football association of wales decided"),
        ("Was the UK consulted?", "the united kingdom was consulted"),
    ],
)
def test_a_name_in_capitals_is_named_by_the_words_it_abbreviates(text: str, context: str) -> None:
    assert missing_names(text, context) == frozenset()


def test_an_abbreviation_the_context_does_not_spell_out_is_still_missing() -> None:
    assert missing_names("What did the BNP say?", "the scottish national party said") == {"bnp"}
    # only a name written in capitals is read as an abbreviation: "Snp" is a name like any other
    assert missing_names("What did Snp say?", "the scottish national party said") == {"snp"}
