"""The generate strategy's verifier: does a cited evidence item entail a sentence of the answer?

The model's P(Yes), asked with worked examples of invented relations (:data:`rag.answer.prompts.VERIFY_SYSTEM`),
then two vetoes for what its yes/no cannot see, each asked the way the small model answers well (copying):

- a number of the claim that the model, filling the claim's blank from the evidence, gives as another number
  (:func:`rag.answer.cloze.moved_number`: a debt read as a price);
- two names or numbers of the claim whose exchange the model, restating the evidence, finds more likely than
  the claim, or a date of the claim it finds likelier replaced by another of the evidence
  (:func:`rag.answer.roles.swapped_roles`: "Chelsea … beat City" from "city … beat chelsea").

Both run only after a yes, so a sentence already dropped costs nothing more. The deterministic vetoes (a number
the evidence lacks, a sum in another role, a hedge stated as done, a cause the evidence does not state, certainty
it lacks) are :func:`rag.answer.citations.verify_answer`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from rag.answer.citations import ENTAILED, Entailment
from rag.answer.cloze import CLOZE_TOKENS, moved_number
from rag.answer.prompts import verification_messages
from rag.answer.roles import swapped_roles
from rag.llm.probability import TextScorer, ask_model, choice_scorer, text_scorer

log = logging.getLogger(__name__)


def checked_entailment(
    p_yes: float, claim: str, evidence: str, ask: Callable[[list[BaseMessage]], str], logprob: TextScorer | None
) -> float:
    """The verifier's P(the evidence entails the claim): the model's ``p_yes``, or 0 when it says yes yet a veto
    finds a number moved or two roles exchanged. A failed veto call only loses that check."""
    if p_yes < ENTAILED:
        return p_yes
    vetoes: list[tuple[str, Callable[[], str | None]]] = [("number cloze", lambda: moved_number(claim, evidence, ask))]
    if logprob is not None:  # a server that cannot score forced replies has no role check
        vetoes.append(("role check", lambda: swapped_roles(claim, evidence, logprob)))
    for name, veto in vetoes:
        try:
            found = veto()
        except Exception as exc:  # noqa: BLE001 - the entailment call worked; any backend error only loses the check
            log.warning("%s failed (%s); keeping the model's verdict", name, exc)
            continue
        if found:
            log.info("verifier veto: %s", found)
            return 0.0
    return p_yes


def model_entailment(model: BaseChatModel) -> Entailment:
    """The chain's verifier as a function from (evidence, claim) to P(entailed)."""
    scorer = choice_scorer(model, ("Yes", "No"))
    ask, logprob = ask_model(model, CLOZE_TOKENS), text_scorer(model)

    def entails(evidence: str, claim: str) -> float:
        return checked_entailment(scorer(verification_messages(evidence, claim))["Yes"], claim, evidence, ask, logprob)

    return entails
