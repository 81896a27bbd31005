"""The verifier's role check: which names and numbers of a claim are exchanged, and what the likelihoods decide
(pure logic; the model is a scripted scorer here, and the real model in tests/integration/test_verifier.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from langchain_core.messages import AIMessage, BaseMessage

from rag.answer.roles import (
    MARGIN,
    MAX_DATES,
    MAX_PAIRS,
    other_dates,
    role_spans,
    swappable_pairs,
    swapped,
    swapped_roles,
    version_gains,
)

CITY = ("city went into the game with the proud record of being the only domestic team to beat chelsea this season. "
        "there was little to alarm them in the first 30 minutes.")
CLAIM = "Chelsea went into the game with the proud record of being the only domestic team to beat City this season."


def scorer(scores: dict[str, float]) -> tuple[list[tuple[list[BaseMessage], str]], Callable[[list[BaseMessage], str], float]]:
    """A model whose log-probability of each forced text is scripted (by the text); records what it was asked."""
    asked: list[tuple[list[BaseMessage], str]] = []

    def logprob(messages: list[BaseMessage], text: str) -> float:
        asked.append((messages, text))
        return scores[text]

    return asked, logprob


def test_names_and_numbers_the_evidence_states_are_the_spans() -> None:
    spans = role_spans("In May Bates offered £10m for Sheffield Wednesday, not £140m.",
                       "bates offered £10m to sheffield wednesday in may. abramovich paid £140m.")
    assert [(s.text, s.kind) for s in spans] == [
        ("Bates", "name"), ("£10m", "number"), ("Sheffield Wednesday", "name"), ("£140m", "number")]


@pytest.mark.parametrize(("claim", "expected"), [
    ("Celtic's Boxing Day meeting is with Livingston.", ["Celtic", "Livingston"]),  # the owner, not its fixture
    ("On Thursday Rangers said they would not bid for Ferguson.", ["Rangers", "Ferguson"]),  # the date opens it
    ("O'Leary signed after deals were sorted for Roy Aitken.", ["O'Leary", "Roy Aitken"]),  # "o leary" in the text
    ("The United States' win made up for defeat to Slovakia.", ["United States", "Slovakia"]),
])
def test_a_name_is_cut_from_what_opens_the_sentence_and_its_possessive(claim: str, expected: list[str]) -> None:
    evidence = ("celtic s boxing day meeting with livingston. on thursday rangers said they would not bid for "
                "ferguson. o leary signed after deals were sorted for roy aitken. the united states lost to slovakia.")
    assert [span.text for span in role_spans(claim, evidence) if span.kind == "name"] == expected


def test_a_name_the_evidence_lacks_is_no_span() -> None:
    assert [s.text for s in role_spans("Chelsea beat Arsenal.", CITY)] == ["Chelsea"]


def test_the_items_of_a_list_are_not_exchanged() -> None:
    evidence = "nigel farage said deals with france and germany could bring more people to britain."
    pairs = swappable_pairs("Nigel Farage warned that deals with Germany and France could bring more.", evidence)
    assert [(a.text, b.text) for a, b in pairs] == [("Nigel Farage", "Germany"), ("Nigel Farage", "France")]


def test_names_pair_with_names_and_numbers_with_numbers_first_ones_first() -> None:
    claim = "Stuart made 18 appearances for Chelsea, scoring 110 goals, before Everton and Wimbledon."
    evidence = "stuart made 110 appearances for chelsea scoring 18 goals before joining everton. wimbledon."
    pairs = [(a.text, b.text) for a, b in swappable_pairs(claim, evidence)]
    assert pairs[:2] == [("Stuart", "Chelsea"), ("18", "110")] and len(pairs) == MAX_PAIRS


def test_swapped_exchanges_the_two_spans_in_place() -> None:
    one, other = swappable_pairs(CLAIM, CITY)[0]
    assert swapped(CLAIM, one, other) == (
        "City went into the game with the proud record of being the only domestic team to beat Chelsea this season.")


def test_an_exchange_the_model_finds_more_likely_is_a_veto() -> None:
    exchanged = swapped(CLAIM, *swappable_pairs(CLAIM, CITY)[0])
    _, logprob = scorer({CLAIM: -18.0, exchanged: -6.8})
    assert swapped_roles(CLAIM, CITY, logprob) == "the evidence gives 'Chelsea' the role the claim gives 'City'"


@pytest.mark.parametrize("gain", [-20.0, 0.0, MARGIN])
def test_an_exchange_not_more_likely_by_the_margin_is_no_veto(gain: float) -> None:
    exchanged = swapped(CLAIM, *swappable_pairs(CLAIM, CITY)[0])
    _, logprob = scorer({CLAIM: -10.0, exchanged: -10.0 + gain})
    assert swapped_roles(CLAIM, CITY, logprob) is None


def test_only_the_words_from_the_first_exchanged_span_on_are_scored() -> None:
    claim = "Last season Chelsea were the only team to beat City."
    exchanged = "City were the only team to beat Chelsea."
    asked, logprob = scorer({" Chelsea were the only team to beat City.": -9.0, " " + exchanged: -4.0})
    gains = version_gains(claim, CITY, logprob)
    assert [(version.change, gain) for version, gain in gains] == [
        ("the evidence gives 'Chelsea' the role the claim gives 'City'", 5.0)]
    # both versions are scored after the same given start of the reply, once for the claim
    assert [text for _, text in asked] == [" Chelsea were the only team to beat City.", " " + exchanged]
    # the given start ends on a word: " Chelsea" is the model's own token
    assert all(isinstance(m[-1], AIMessage) and m[-1].content == "Last season" for m, _ in asked)


def test_a_claim_without_two_names_or_numbers_asks_nothing() -> None:
    asked, logprob = scorer({})
    assert swapped_roles("The home side struggled.", CITY, logprob) is None and asked == []


def test_chat_control_tokens_in_a_generated_claim_are_not_forced() -> None:
    asked, logprob = scorer({CLAIM: -18.0, swapped(CLAIM, *swappable_pairs(CLAIM, CITY)[0]): -6.8})
    assert swapped_roles(CLAIM.replace("City", "City<|im_end|>"), CITY, logprob) is not None
    assert all("<|" not in text for _, text in asked)


def test_numbers_in_words_are_spans_and_one_is_not() -> None:
    evidence = ("the move followed a campaign after eleven people were wrongly convicted of planting the ira bombs "
                "which killed seven people. one of them spoke.")
    claim = "The bombs killed eleven people, and seven were wrongly convicted; one spoke."
    assert [(s.text, s.kind) for s in role_spans(claim, evidence)] == [("eleven", "count"), ("seven", "count")]
    assert [(a.text, b.text) for a, b in swappable_pairs(claim, evidence)] == [("eleven", "seven")]


def test_a_number_matches_the_evidence_whole_not_as_a_run_of_its_digits() -> None:
    evidence = "he paid £5.9m in 2025 for 80 000 shares."
    spans = [s.text for s in role_spans("He paid £5.9m in 2025 for 80,000 shares, not 5 or 202.", evidence)]
    assert spans == ["£5.9m", "2025", "80,000"]


BATES = ("bates stepped down as chelsea chairman in march last year following roman abramovich s £140m takeover. "
         "in may he made a proposal to invest £10m in sheffield wednesday, and in 2004 he bought leeds.")


def test_a_date_is_tried_with_the_other_dates_the_evidence_gives() -> None:
    claim = "Bates stepped down as Chelsea chairman in May 2003."
    assert [(span.text, other) for span, other in other_dates(claim, BATES)] == [("May", "March"), ("2003", "2004")]
    # a claim that already names the evidence's other date is not given it twice; at most MAX_DATES are tried
    assert other_dates("In March and May Bates stepped down.", BATES) == []
    assert len(other_dates("In January, February or June 2001 Bates left.", BATES)) == MAX_DATES


def test_may_in_the_evidence_is_a_month_only_where_a_month_would_be() -> None:
    evidence = "he may step down in march, the chairman said."
    assert [other for _, other in other_dates("He stepped down in April.", evidence)] == ["March"]


def test_a_date_the_model_finds_likelier_replaced_is_a_veto() -> None:
    claim = "Bates stepped down as chairman in May last year."  # one name: no exchange to score
    _, logprob = scorer({" May last year.": -9.0, " March last year.": -2.0})
    assert swapped_roles(claim, BATES, logprob) == "the evidence gives 'March' where the claim has 'May'"
    _, logprob = scorer({" May last year.": -2.0, " March last year.": -9.0})
    assert swapped_roles(claim, BATES, logprob) is None


def test_may_after_a_day_number_is_the_month_in_both_checks() -> None:
    from rag.answer.support import hedge_conflict

    evidence = "the final is on 12 may at wembley stadium, the club said."
    assert [other for _, other in other_dates("The final is in April.", evidence)] == ["May"]
    assert hedge_conflict("The final is at Wembley Stadium.", evidence) is None  # the month, not a hedge


def test_a_month_with_its_year_is_replaced_whole_by_another_of_the_evidence() -> None:
    evidence = ("in october 1989 the court of appeal quashed the sentences of the guildford four, and in june 1991 "
                "it overturned the sentences on the maguire seven.")
    claim = "In October 1989 the Court of Appeal overturned the sentences on the Maguire Seven."
    assert [(span.text, other) for span, other in other_dates(claim, evidence)] == [("October 1989", "June 1991")]
    # one month-year pair in the evidence: the month and the year are tried one by one, as before
    assert [(span.text, other) for span, other in other_dates("He left in April 2003.", BATES)] == [
        ("April", "March"), ("April", "May")]
