"""A chat model's probability for each of a few one-word answers, from its first token's log-probabilities.

Reading the distribution of one generated token instead of parsing free text gives
a graded, deterministic score for yes/no questions (answer gates, LLM judges),
from the in-process llama.cpp model or any OpenAI-compatible server that returns
``logprobs``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from rag.errors import NoLogProbabilitiesError
from rag.llm.local import score_choices

TOP_LOGPROBS = 20

ChoiceScorer = Callable[[list[BaseMessage]], dict[str, float]]
# The model's summed log-probability of a text as its reply to messages (teacher-forced).
TextScorer = Callable[[list[BaseMessage], str], float]


def choice_scorer(model: BaseChatModel, choices: Sequence[str] = ("Yes", "No")) -> ChoiceScorer:
    """A function from messages to each choice's probability (normalised over ``choices``).

    Raises :class:`NoLogProbabilitiesError` (when called) if the server returns no log-probabilities.
    """
    if hasattr(model, "choice_probabilities"):  # the local model reads them from llama.cpp directly
        return lambda messages: dict(model.choice_probabilities(messages, choices, top_n=TOP_LOGPROBS))
    # OpenAI-compatible: one non-streamed token with its top log-probabilities.
    wanted = {"max_tokens": 1, "temperature": 0.0, "streaming": False}
    updates = {k: v for k, v in wanted.items() if k in type(model).model_fields}
    bound = model.model_copy(update=updates).bind(logprobs=True, top_logprobs=TOP_LOGPROBS)

    def remote(messages: list[BaseMessage]) -> dict[str, float]:
        reply = bound.invoke(messages)
        try:
            top = first_token_logprobs(dict(reply.response_metadata))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise NoLogProbabilitiesError(f"the LLM server returned no log-probabilities ({exc})") from exc
        return score_choices(top, choices)

    return remote


def text_scorer(model: BaseChatModel) -> TextScorer | None:
    """A function from (messages, text) to the model's log-probability of replying ``text``, or None when the
    model cannot score a given reply: only the in-process model forces one token by token (an OpenAI-compatible
    server neither tokenizes for us nor takes token grammars everywhere)."""
    return model.text_logprob if hasattr(model, "text_logprob") else None


def ask_model(model: BaseChatModel, max_tokens: int) -> Callable[[list[BaseMessage]], str]:
    """The model as a function from messages to its reply of at most ``max_tokens`` (the checks' calls)."""
    return lambda messages: str(model.invoke(messages, max_tokens=max_tokens).content)


def first_token_logprobs(metadata: dict) -> list[tuple[str, float]]:
    """The first token's top log-probabilities from an OpenAI-style ``response_metadata``; raises KeyError."""
    logprobs = metadata.get("logprobs")
    if not logprobs or not logprobs.get("content"):
        raise KeyError("the response carries no logprobs")
    first = logprobs["content"][0]
    top = first.get("top_logprobs") or [first]
    return [(str(entry["token"]), float(entry["logprob"])) for entry in top]


def none_probability(top: list[tuple[str, float]], none: str = "NONE") -> float:
    """Probability that a reply starts with ``none`` (e.g. NONE), from its first token's top log-probabilities.

    The tokens that begin ``none`` ("N", "NON", "NONE", any case) count for it; the
    rest of the listed mass counts against it (renormalised over the listed tokens).
    """
    word = none.upper()
    total = yes = 0.0
    for token, logprob in top:
        t = token.strip().upper()
        p = math.exp(logprob)
        total += p
        if t and word.startswith(t):
            yes += p
    return yes / total if total > 0 else 0.0
