"""The generate strategy's verifier composed: the model's yes/no, then the number cloze and the role check
(pure logic; scripted replies and scores here, the real model in tests/integration/test_verifier.py)."""

from __future__ import annotations

from langchain_core.messages import BaseMessage

from rag.answer.verifier import checked_entailment

EVIDENCE = "city went into the game as the only domestic team to beat chelsea this season."
CLAIM = "Chelsea went into the game as the only domestic team to beat City this season."


def no_fill(messages: list[BaseMessage]) -> str:
    raise AssertionError("the claim has no number to blank")


def test_a_no_from_the_model_asks_nothing_more() -> None:
    def logprob(messages: list[BaseMessage], text: str) -> float:
        raise AssertionError("not asked after a no")

    assert checked_entailment(0.3, CLAIM, EVIDENCE, no_fill, logprob) == 0.3


def test_a_yes_with_two_roles_exchanged_is_vetoed() -> None:
    def logprob(messages: list[BaseMessage], text: str) -> float:
        return -5.0 if text.startswith("City") else -15.0  # the evidence's order is the likelier one

    assert checked_entailment(0.9, CLAIM, EVIDENCE, no_fill, logprob) == 0.0


def test_a_yes_keeps_its_probability_when_the_roles_hold_or_cannot_be_scored() -> None:
    def logprob(messages: list[BaseMessage], text: str) -> float:
        return -5.0 if text.startswith("Chelsea") else -15.0

    def broken(messages: list[BaseMessage], text: str) -> float:
        raise RuntimeError("llama.cpp went away")

    assert checked_entailment(0.9, CLAIM, EVIDENCE, no_fill, logprob) == 0.9
    assert checked_entailment(0.9, CLAIM, EVIDENCE, no_fill, broken) == 0.9  # a failed check only loses the check
    assert checked_entailment(0.9, CLAIM, EVIDENCE, no_fill, None) == 0.9  # a server that cannot score replies
