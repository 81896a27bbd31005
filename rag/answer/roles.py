"""Whether a claim swaps the roles of two of its names or numbers: the verifier's check for agent and object
exchanged.

"Chelsea went into the game with the proud record of being the only domestic team to beat City" from "city went
into the game with the proud record of being the only domestic team to beat chelsea": every word is in the
evidence, and the small model asked "does the evidence entail it?" says yes; asked to choose between the claim and
the claim with the two names exchanged, it picks at chance. What it does well is copy: its likelihood of writing
each version after reading the evidence (teacher-forced: its log-probabilities of the text's own tokens, summed)
follows the evidence's order of roles: the version with the names exchanged back scores ~10 nats above the claim.
A swapped version that the model finds more likely than the claim by :data:`MARGIN` is a veto. A swapped
version that makes no sense is simply less likely, so a name or number read wrongly costs a call, never a veto.
The same comparison tries a month or a year of the claim replaced by another the evidence gives ("Bates stepped
down in May" where the evidence says March, and May for another event).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from rag.answer.prompts import SPECIAL_TOKEN, sanitize_evidence
from rag.answer.support import digit_numbers, month_may, words_of
from rag.llm.probability import TextScorer
from rag.text import is_stopword

RESTATE_SYSTEM = "You restate facts from a text in one sentence."
# How much more likely (in nats) the swapped version must be. On the dev claims no supported claim's swap scored
# above -2.6 and every invented relation caught scored above +4.8; any margin from 0 to 4 gave the same verdicts.
MARGIN = 2.0
# Pairs of one claim checked, first ones first: each costs one forced reply (~0.1 s per token).
MAX_PAIRS = 3
# A name: capitalised words, "of"/"de" inside ("Council of Europe"); digits with their unit ("£6.5m", "12,667").
_NAME = re.compile(r"[A-Z][\w'’-]*(?:\s+(?:(?:of|de|the)\s+)?[A-Z][\w'’-]*)*")
_NUMBER = re.compile(r"[£$€]?\d(?:[\d,.]|\s(?=\d{3}\b))*(?:m|bn|k|%)?")
# A number in words ("eleven people … killed seven"); not "one", as often a pronoun.
_NUMBER_WORD = re.compile(
    r"\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|"
    r"eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred)\b", re.IGNORECASE)
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
# Days and months often open a sentence before a name ("In May Bates…", "On Thursday Rangers…").
_DATES = frozenset(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", *_MONTHS))
_CLAIM_MONTH = re.compile(rf"\b(?:{'|'.join(m.capitalize() for m in _MONTHS)})\b")  # "may" lower-case is a verb
_EVIDENCE_MONTH = re.compile(rf"\b(?:{'|'.join(_MONTHS)})\b")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
# A month with its year ("October 1989") is one date: the evidence's other such dates replace it whole, since a
# claim that puts one event's date on another moves both ("in october 1989 … in june 1991 it overturned").
_CLAIM_MONTH_YEAR = re.compile(rf"{_CLAIM_MONTH.pattern}\s+{_YEAR.pattern}")
_EVIDENCE_MONTH_YEAR = re.compile(rf"{_EVIDENCE_MONTH.pattern}\s+{_YEAR.pattern}")
# Other dates of the evidence tried in place of the claim's, at most (each costs one forced reply).
MAX_DATES = 2
# Exchanging the two halves of a list changes nothing ("France and Germany").
_LISTED = re.compile(r"^\s*(?:,|and|or|&|,\s*and|,\s*or|\s)\s*$")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str
    kind: str  # "name", "number" (in digits), "count" (a number in words), "month", "year" or "date" (both)


def _name(found: str) -> tuple[int, str]:
    """A run of capitalised words without the words that open a sentence before a name ("The", "In May",
    "On Thursday") and without "'s": (where the name starts in the run, the name)."""
    words, start = found.split(), 0
    while words and (is_stopword(words[0].lower()) or words[0].lower() in _DATES):
        start = found.index(words[1], start + len(words[0])) if len(words) > 1 else len(found)
        words = words[1:]
    owner = next((n for n, word in enumerate(words) if word.endswith(("'s", "’s"))), len(words))
    text = " ".join(words[: owner + 1])  # "Celtic's Boxing Day": Celtic
    for suffix in ("'s", "’s", "'", "’"):
        text = text.removesuffix(suffix)
    return start, text


def _stated(name: str, said: str) -> bool:
    """Whether the evidence has every word of the name ("O'Leary" in "o leary"), case aside."""
    return all(part in said for part in re.split(r"[\s'’]+", name.lower()) if part)


def role_spans(claim: str, evidence: str) -> list[Span]:
    """The claim's names and numbers that the evidence also states (case aside), in claim order."""
    said, stated = evidence.lower(), digit_numbers(evidence)
    spans = []
    for match in _NAME.finditer(claim):
        skipped, text = _name(match.group(0))
        if text and _stated(text, said):
            start = match.start() + skipped
            spans.append(Span(start, start + len(text), text, "name"))
    for match in _NUMBER.finditer(claim):
        text = match.group(0).rstrip(",.")
        if (numbers := digit_numbers(text)) and numbers <= stated:
            spans.append(Span(match.start(), match.start() + len(text), text, "number"))
    for match in _NUMBER_WORD.finditer(claim):
        if re.search(rf"\b{match.group(0).lower()}\b", said):
            spans.append(Span(match.start(), match.end(), match.group(0), "count"))  # paired with counts only
    return sorted(spans, key=lambda span: span.start)


def swappable_pairs(claim: str, evidence: str) -> list[tuple[Span, Span]]:
    """Two names or two numbers of the claim, both in the evidence, that are not one list's items; neighbours
    first (a name and the next name), since a sentence exchanges roles it puts side by side."""
    spans = role_spans(claim, evidence)
    ranked = []
    for kind in ("name", "number", "count"):
        of_kind = [span for span in spans if span.kind == kind]
        for (i, one), (j, other) in itertools.combinations(enumerate(of_kind), 2):
            if one.text.lower() == other.text.lower() or one.end > other.start:
                continue
            if _LISTED.match(claim[one.end : other.start]):
                continue
            ranked.append((j - i, one.start, (one, other)))
    return [pair for _, _, pair in sorted(ranked, key=lambda r: r[:2])][:MAX_PAIRS]


def swapped(claim: str, one: Span, other: Span) -> str:
    return claim[: one.start] + other.text + claim[one.end : other.start] + one.text + claim[other.end :]


def _evidence_dates(evidence: str) -> tuple[list[str], list[str], list[str]]:
    """The months, the years and the months with their years ("June 1991") the evidence gives, in its order,
    written as a claim writes them."""
    said = " ".join(evidence.lower().split())
    tokens = words_of(said)
    may = any(month_may(tokens, i) for i in range(len(tokens)))  # otherwise "may" is only ever the verb
    months = [m.capitalize() for m in dict.fromkeys(_EVIDENCE_MONTH.findall(said)) if m != "may" or may]
    years = list(dict.fromkeys(_YEAR.findall(said)))
    return months, years, [d.capitalize() for d in dict.fromkeys(_EVIDENCE_MONTH_YEAR.findall(said))]


def other_dates(claim: str, evidence: str) -> list[tuple[Span, str]]:
    """A month or a year of the claim, each with another the evidence gives and the claim does not: the claim may
    put a date on the wrong event ("Bates stepped down in May" where the evidence says March, and May for
    something else). First ones first."""
    months, years, paired = _evidence_dates(evidence)
    found, whole = [], []
    for match in _CLAIM_MONTH_YEAR.finditer(claim) if len(paired) > 1 else ():
        span = Span(match.start(), match.end(), match.group(0), "date")
        whole.append(span)
        found.extend((span, other) for other in paired if other != " ".join(span.text.split()) and other not in claim)
    for pattern, kind, given in ((_CLAIM_MONTH, "month", months), (_YEAR, "year", years)):
        for match in pattern.finditer(claim):
            if any(span.start <= match.start() < span.end for span in whole):
                continue  # replaced whole above
            span = Span(match.start(), match.end(), match.group(0), kind)
            found.extend((span, other) for other in given if other != span.text and other not in claim)
    return sorted(found, key=lambda alternative: alternative[0].start)[:MAX_DATES]


@dataclass(frozen=True)
class Version:
    """The claim with its roles changed: exchanged, or a date replaced by another of the evidence."""

    start: int  # where it first differs from the claim
    text: str
    change: str  # what the evidence would say, if this version is the likelier one


def versions(claim: str, evidence: str) -> list[Version]:
    """The changed versions of the claim worth scoring against it: two names or numbers exchanged, then a date
    replaced."""
    exchanged = [Version(one.start, swapped(claim, one, other),
                         f"the evidence gives {one.text!r} the role the claim gives {other.text!r}")
                 for one, other in swappable_pairs(claim, evidence)]
    redated = [Version(span.start, claim[: span.start] + other + claim[span.end :],
                       f"the evidence gives {other!r} where the claim has {span.text!r}")
               for span, other in other_dates(claim, evidence)]
    return exchanged + redated


def restate_messages(evidence: str, prefix: str = "") -> list[BaseMessage]:
    """The evidence, then the model asked to restate a fact of it; ``prefix``: the start of its reply, given
    (both versions of a claim share the words before the first exchanged span, so only the rest is scored)."""
    user = f"Text: {sanitize_evidence(evidence)}\n\nState one fact from the text in one sentence."
    messages: list[BaseMessage] = [SystemMessage(RESTATE_SYSTEM), HumanMessage(user)]
    return [*messages, AIMessage(prefix)] if prefix.strip() else messages


def version_gains(claim: str, evidence: str, logprob: TextScorer) -> list[tuple[Version, float]]:
    """For each version worth asking about: how much more likely the model finds it than the claim itself, after
    reading the evidence (log-probability of the words from the first change on; the words before are given as
    the start of the reply)."""
    claim = " ".join(SPECIAL_TOKEN.sub("", claim).split())  # a generated "<|im_end|>" would end the forced reply
    written: dict[int, float] = {}  # the claim's own score from each cut on
    gains = []
    for version in versions(claim, evidence):
        # The given start keeps no trailing space: " City" is one token, and the model scores "City" after a
        # space it was handed as an unusual split (12 nats off on a supported claim).
        cut = len(claim[: version.start].rstrip())
        messages = restate_messages(evidence, claim[:cut])
        # Scored to the end: the words after the change follow the evidence's order only in one version
        # ("…beat Chelsea this season": scored up to "Chelsea" only, that claim's gain fell from +10 to -2).
        if cut not in written:
            written[cut] = logprob(messages, claim[cut:])
        gains.append((version, logprob(messages, version.text[cut:]) - written[cut]))
    return gains


def swapped_roles(claim: str, evidence: str, logprob: TextScorer) -> str | None:
    """Why the evidence gives the claim's names, numbers or dates other roles (None: no such version found)."""
    for version, gain in version_gains(claim, evidence, logprob):
        if gain > MARGIN:
            return version.change
    return None
