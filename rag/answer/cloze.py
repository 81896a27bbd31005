"""Which number the evidence puts where a claim puts one: the verifier's check for numbers moved between roles.

"The Irish province will be given at least 12,667 tickets" from "the stadium has a capacity of just 12 667.
The Irish province will be given at least 8 000 tickets": every number of the claim is in the evidence, so
word checks pass it, and the model asked "does the evidence entail it?" says yes. Asked instead to fill the
blank of "…at least ____ tickets" from the evidence (a copy task, which the small model does well), it
answers 8000: another number, so the claim moved 12,667 into the wrong role. A fill without a number, or
NONE, says nothing either way. One short call per number, and only for numbers the evidence states beside
other numbers (otherwise there is no other number to move).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from rag.answer.prompts import NONE, sanitize_evidence
from rag.answer.support import digit_numbers

BLANK = "____"
CLOZE_SYSTEM = (
    "You fill in the blank of a sentence using only the text given. Reply with the words that belong in the "
    f"blank, copied from the text, or {NONE} if the text does not say."
)
# A fill is a number or a few words.
CLOZE_TOKENS = 12
# The numbers of a claim that are checked, first ones first: a sentence rarely moves more than one.
MAX_BLANKS = 2
# A number as written in a claim: "12,667", "8 000", "2004", "£4m" (its digits).
_NUMBER = re.compile(r"\d(?:[\d,.]|\s(?=\d{3}\b))*")
# Two numbers at most this many words apart are one amount written twice ("£4bn ($7.4bn)").
_BESIDE_WORDS = 2
_SCORE_BEFORE = re.compile(r"\d\s*[-–]\s*$")
_SCORE_AFTER = re.compile(r"\s*[-–]\s*\d")


def cloze_messages(evidence: str, blanked: str) -> list[BaseMessage]:
    """The evidence first (its tokens are read once for all of a claim's blanks), the sentence to complete last."""
    user = f"Text: {sanitize_evidence(evidence)}\n\nSentence: {blanked}\n\nWhat belongs in the blank {BLANK}?"
    return [SystemMessage(CLOZE_SYSTEM), HumanMessage(user)]


def number_blanks(claim: str, evidence: str) -> list[tuple[str, str]]:
    """(the claim with one number blanked, that number's digits) for each number worth asking about: one the
    evidence states beside another number. A number the evidence lacks is the missing-number veto's."""
    stated = digit_numbers(evidence)
    blanks: list[tuple[str, str]] = []
    for match in _NUMBER.finditer(claim):
        written = match.group(0).rstrip(",. ")
        found = digit_numbers(written)
        digits = next(iter(found)) if len(found) == 1 else ""
        end = match.start() + len(written)
        if _SCORE_BEFORE.search(claim[: match.start()]) or _SCORE_AFTER.match(claim[end:]):
            continue  # half of a score or a range ("a 1-0 win"): the model fills in the whole of it
        if digits and digits in stated and stated - {digits} and digits not in {d for _, d in blanks}:
            blanks.append((claim[: match.start()] + BLANK + claim[end:], digits))
    return blanks[:MAX_BLANKS]


def _beside(one: str, other: str, evidence: str) -> bool:
    """Whether the evidence writes the two numbers within a few words of each other: one amount in two
    currencies ("£4bn ($7.4bn)"), a range, a score; the fill then names the same thing as the claim."""
    found = [(m.start(), digit_numbers(m.group(0))) for m in _NUMBER.finditer(evidence)]
    at = {n: [start for start, numbers in found if n in numbers] for n in (one, other)}
    return any(len(evidence[min(a, b):max(a, b)].split()) <= _BESIDE_WORDS for a in at[one] for b in at[other])


_SPACED = re.compile(r"\d+(?:\s\d{3}\b)+")  # "80 000", "1 250 000"


def _first_group(fill: str, digits: str, evidence: str) -> bool:
    """Whether the fill is the first group of the claim's number as the evidence writes it with spaced thousands
    ("80" copied from "80 000" for the claim's 80,000): the same number, cut short."""
    return any(found.group(0).split()[0] == fill and digit_numbers(found.group(0)) == {digits}
               for found in _SPACED.finditer(evidence))


def moved_number(claim: str, evidence: str, ask: Callable[[list[BaseMessage]], str]) -> str | None:
    """Why the claim puts a number of the evidence where the evidence puts another (None: no such number found).

    ``ask`` sends messages to the model and returns its reply.
    """
    for blanked, digits in number_blanks(claim, evidence):
        fill = " ".join(ask(cloze_messages(evidence, blanked)).split())
        given = digit_numbers(fill)
        if given and digits not in given and not any(
            _beside(digits, other, evidence) or _first_group(other, digits, evidence) for other in given
        ):
            return f"the evidence gives {fill[:40]!r} where the claim has {digits}"
    return None
