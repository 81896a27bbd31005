"""Follow-up questions made standalone: when the model's rewrite is kept, and the heuristic that replaces it."""

from __future__ import annotations

import pytest

from rag.answer.fakes import scripted_model
from rag.answer.question import condense_question, heuristic_standalone, keeps_question, needs_context


@pytest.mark.parametrize(
    ("question", "rewrite"),
    [
        ("What else did he accuse the Prime Minister of?", "What else did Nigel Farage accuse the Prime Minister of?"),
        ("How much prize money did she take home?", "How much prize money did Sania Mirza take home?"),
        # A reference that is not a pronoun may be replaced by what it refers to.
        ("What did the committee's chairman think of that?",
         "What did the chairman of the Public Accounts Committee think about the target?"),
        ("What do the police know about the man who did it?",
         "What did the police know about the man who threw the bucket over Robert Kilroy-Silk?"),
        ("And what did she say about the lawyers?", "What did Suella Braverman say about the lawyers?"),
        # A yes/no question may change its auxiliary; an elliptical one takes its form from the conversation.
        ("Did he accept it?", "Has Luis Aragones accepted the fine?"),
        ("And Lammy?", "What did David Lammy say about the ECHR?"),
        ("What about France?", "How would France stop the crossings?"),
        # The pronoun may be the question's own person: nothing to name.
        ("What did Braverman say when she resigned?", "What did Braverman say when she resigned?"),
    ],
)
def test_a_rewrite_that_keeps_the_question_is_kept(question: str, rewrite: str) -> None:
    assert keeps_question(question, rewrite)


@pytest.mark.parametrize(
    ("question", "rewrite"),
    [
        # Another question: "how" became "what", "what" became "why".
        ("How did he describe the one-in, one-out agreement?",
         "What did Jordan Bardella say about the one-in, one-out agreement?"),
        ("And what did the ATP say in reply?", "Why did Greg Rusedski criticize the ATP?"),
        # The pronoun dropped instead of resolved: whom "he" blames is no longer asked.
        ("Who does he hold responsible for missing the test?", "Who is responsible for missing the doping test?"),
        ("Has he accepted it?", "Why was Luis Aragones fined?"),
        ("Has he accepted it?", ""),
    ],
)
def test_a_rewrite_that_asks_something_else_is_not_kept(question: str, rewrite: str) -> None:
    assert not keeps_question(question, rewrite)


def test_the_heuristic_names_whom_the_previous_question_asked_about() -> None:
    history = [("What did Kostas Kenteris say about his motorbike crash?", "He said…")]
    assert heuristic_standalone(history, "Who does he hold responsible for missing the test?") == (
        "Who does Kostas Kenteris hold responsible for missing the test?"
    )
    history = [("Why was Mido dropped by Egypt?", "He was axed…")]
    assert heuristic_standalone(history, "How did the Egyptian FA react to his apology?") == (
        "How did the Egyptian FA react to Mido's apology?"
    )


def test_without_a_pronoun_the_heuristic_appends_the_previous_question() -> None:
    history = [("Why is Greg Rusedski unhappy with the ATP?", "He criticised…")]
    assert heuristic_standalone(history, "And what did the ATP say in reply?") == (
        "And what did the ATP say in reply? (following: Why is Greg Rusedski unhappy with the ATP)"
    )


def test_after_a_chain_of_follow_ups_the_heuristic_appends_back_to_the_topic() -> None:
    history = [("Why won't Starmer leave the ECHR?", "Keir Starmer ruled out…"),
               ("What did his deputy say about it?", "Pulling out would be a fake solution…"),
               ("Who is he meeting in Strasbourg?", "Fellow European ministers…")]
    assert heuristic_standalone(history, "Which parties want to leave it?") == (
        "Which parties want to leave it? (following: Who is he meeting in Strasbourg; "
        "What did his deputy say about it; Why won't Starmer leave the ECHR)"
    )
    # a topic set by an earlier standalone question ends the walk back
    history = [("Who is Lammy?", "…"), *history]
    assert heuristic_standalone(history[:3], "Which parties want to leave it?").endswith(
        "(following: What did his deputy say about it; Why won't Starmer leave the ECHR)")


def test_only_follow_ups_are_rewritten() -> None:
    assert needs_context("Has he accepted it?")
    assert not needs_context("Why won't Starmer leave the ECHR?")
    assert heuristic_standalone([("Who is Lammy?", "…")], "Why won't Starmer leave the ECHR?") == (
        "Why won't Starmer leave the ECHR?"
    )


def test_the_models_rewrite_is_used_when_it_keeps_the_question() -> None:
    history = [("What did Jordan Bardella say about patrol boats?", "He told The Daily Telegraph…")]
    model = scripted_model(["How did Jordan Bardella describe the one-in, one-out agreement?"])
    assert condense_question(history, "How did he describe the one-in, one-out agreement?", model) == (
        "How did Jordan Bardella describe the one-in, one-out agreement?"
    )


def test_a_rewrite_into_another_question_gives_way_to_the_heuristic() -> None:
    history = [("What did Jordan Bardella say about patrol boats?", "He told The Daily Telegraph…")]
    model = scripted_model(["What did Jordan Bardella say about the one-in, one-out agreement?"])
    assert condense_question(history, "How did he describe the one-in, one-out agreement?", model) == (
        "How did Jordan Bardella describe the one-in, one-out agreement?"
    )
