"""Turn a follow-up ("And what did she say about borders?") into a standalone question.

With an LLM the question is rewritten from the chat history; without one (or if
the LLM fails) a heuristic adds the earlier question's words for retrieval. The
small model sometimes rewrites the question into another one ("How did he…" into
"Why did…") or drops the pronoun instead of naming whom it means; such a rewrite
is replaced by the heuristic's, which keeps the user's words.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from rag.answer.prompts import CONDENSE_SYSTEM, condense_user_message
from rag.text import names

log = logging.getLogger(__name__)

History = Sequence[tuple[str, str]]

_FOLLOW_UP = re.compile(
    r"\b(he|she|they|him|her|them|his|hers|their|it|its|this|that|these|those|there|then)\b|^(and|but|so|also|what about|how about)\b",
    re.IGNORECASE,
)


def needs_context(question: str) -> bool:
    """Does the question lean on earlier turns (pronouns, "and ...", very short)?"""
    return bool(_FOLLOW_UP.search(question)) or len(question.split()) <= 3


_PRONOUN = re.compile(r"\b(he|she|him|her|his|they|them|their)\b", re.IGNORECASE)
_POSSESSIVE = {"his", "her", "their"}
_CONJUNCTION = r"(?:and|but|so|also|then)"  # what a follow-up may open with before its question word
_LEADING_CONJUNCTION = re.compile(rf"^{_CONJUNCTION}\s+", re.IGNORECASE)
_NAME_PHRASE = re.compile(r"(?<!^)(?<![.?!] )\b[A-Z][a-z'’-]+(?: [A-Z][a-z'’-]+)*")


def _subject(text: str) -> str | None:
    """The first name in text ("Suella Braverman"), skipping a capitalised first word."""
    match = _NAME_PHRASE.search(text.strip())
    return match.group(0) if match else None


_CONTEXT_TURNS = 3  # earlier questions the heuristic may append, as many as the rewrite prompt shows


def heuristic_standalone(history: History, question: str) -> str:
    """Resolve the first pronoun to the name the previous question asked about; failing that, append the
    previous question for retrieval, and when that one was a follow-up too, the questions back to the one
    that set the topic ("Which parties want to leave it?" after "What did his deputy say about it?" after
    "Why won't Starmer leave the ECHR?")."""
    if not history or not needs_context(question):
        return question
    previous = history[-1][0].strip()
    subject = _subject(previous)
    pronoun = _PRONOUN.search(question)
    if subject and pronoun:
        name = subject + "'s" if pronoun.group(1).lower() in _POSSESSIVE else subject
        resolved = question[: pronoun.start()] + name + question[pronoun.end() :]
        resolved = _LEADING_CONJUNCTION.sub("", resolved)
        return resolved[:1].upper() + resolved[1:]
    context: list[str] = []
    for earlier, _ in reversed(history[-_CONTEXT_TURNS:]):
        context.append(earlier.strip().rstrip("?"))
        if not needs_context(earlier):
            break
    return f"{question} (following: {'; '.join(context)})"


# The word a question opens with says what kind of answer it wants ("And what…" opens with "what");
# "What about France?" and "And Lammy?" say it only with the conversation, so they are not held to it.
_OPENING = re.compile(rf"^\W*(?:{_CONJUNCTION}\s+)?(\w+)\b(?!\s+(?:about|of)\b)", re.IGNORECASE)
_WH = frozenset({"what", "who", "whom", "whose", "which", "when", "where", "why", "how"})
_AUXILIARY = frozenset({"did", "does", "do", "is", "are", "was", "were", "has", "have", "had", "can", "could",
                        "will", "would", "should", "may", "might", "must"})


def _kind(question: str) -> str | None:
    """The question word it opens with, "yes/no" for an auxiliary, None when it opens with neither."""
    match = _OPENING.match(question)
    word = match.group(1).lower() if match else ""
    return word if word in _WH else "yes/no" if word in _AUXILIARY else None


def keeps_question(question: str, rewrite: str) -> bool:
    """Whether ``rewrite`` still asks ``question``: the same opening question word (a yes/no question stays
    one), and a question that names no one but leans on a pronoun ("he", "their") names someone ("Who does
    he blame…" is not "Who is to blame…"). In "What did Braverman say when she resigned?" the pronoun may
    be the question's own Braverman, so a rewrite that names no one new is kept."""
    if not rewrite.strip():
        return False
    kind = _kind(question)
    if kind is not None and _kind(rewrite) != kind:
        return False
    if _PRONOUN.search(question) and not names(question):
        return bool(names(rewrite))
    return True


def condense_question(history: History, question: str, model: BaseChatModel | None) -> str:
    """A standalone version of question given the history."""
    if not history or not needs_context(question):
        return question
    if model is None:
        return heuristic_standalone(history, question)
    try:
        reply = model.invoke(
            [SystemMessage(CONDENSE_SYSTEM), HumanMessage(condense_user_message(history, question))],
            max_tokens=48,
            stop=["\n"],
        )
    except Exception as exc:  # an unreachable LLM must not stop the question
        log.warning("question rewriting failed (%s); using the heuristic", exc)
        return heuristic_standalone(history, question)
    text = " ".join(str(reply.content).split()).strip().strip('"')
    if len(text) > 4 * len(question) + 200:
        log.info("the rewrite is %d characters long, not a question; using the heuristic", len(text))
        return heuristic_standalone(history, question)
    if not keeps_question(question, text):  # an empty rewrite keeps nothing
        log.info("the rewrite %r does not keep the question %r; using the heuristic", text[:200], question)
        return heuristic_standalone(history, question)
    return text
