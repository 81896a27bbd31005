"""Deterministic support scoring: does a piece of evidence back a claim?

No LLM: it combines how many of the claim's content words the evidence contains
(stemmed), the semantic similarity of the two (MiniLM cosine), and two checks
that catch the errors word overlap misses: a number in the claim that the
evidence lacks, and a negation on one side only. Used to verify citations at
answer time and as the "deterministic judge" of the eval suite.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from rag.text import missing_names, terms

# What a sum of money is in a sentence, from the words around it: "paid £103m" and "a debt of £103m" give the same
# number different roles, and a claim that moves a number from one role to another is not supported.
_MONEY_ROLES = {
    "payment": "pay paid pays paying payment fee fees price priced cost costs costing bought buy buys buying sold sell "
               "sells selling sale deal bid bids offer offered spend spent spending invest invested investment",
    "debt": "debt debts owe owed owes owing loss losses deficit liabilities overdraft",
    "income": "salary salaries wage wages earn earns earned earning earnings income revenue revenues profit profits "
              "prize bonus bonuses turnover",
    "penalty": "fine fined fines penalty penalties compensation damages",
}
_ROLE_OF = {word: role for role, listed in _MONEY_ROLES.items() for word in listed.split()}
_TOKEN = re.compile(r"[£$€]?\d[\d,.]*(?:m|bn|k)?\b|[a-z]+", re.IGNORECASE)
_DIGITS = re.compile(r"\d[\d,.]*")
# "22 000" (thousands written with a space, as some corpora store them) reads as 22000.
_SPACED_THOUSANDS = re.compile(r"(?<=\d) (?=\d{3}\b)")


def money_roles(text: str) -> frozenset[str]:
    """The roles of money a text's words speak of (payment, debt, income, penalty): a question's, say."""
    return frozenset(_ROLE_OF[w] for w in _TOKEN.findall(text.lower()) if w in _ROLE_OF)


def roles_near(text: str, number: str, before: int = 6, after: int = 4) -> frozenset[str]:
    """The money roles of the words around each mention of ``number`` (digits, e.g. "103") in ``text``."""
    tokens = _TOKEN.findall(_SPACED_THOUSANDS.sub("", text.lower()))
    found: set[str] = set()
    for i, token in enumerate(tokens):
        digits = _DIGITS.search(token)
        if digits and _as_number(digits.group(0)) == number:
            found.update(_ROLE_OF[w] for w in tokens[max(0, i - before):i + after + 1] if w in _ROLE_OF)
    return frozenset(found)


def role_conflict(claim: str, evidence: str, claim_roles: frozenset[str] | None = None) -> str | None:
    """A number the claim and the evidence share, given different money roles ("paid £103m" from "a debt of
    £103m"), described; None when every shared number plays a compatible role (or no role is said).

    ``claim_roles`` overrides the roles read around the number in the claim (a question's roles, say).
    """
    for number in sorted(digit_numbers(claim) & digit_numbers(evidence)):
        said = claim_roles if claim_roles is not None else roles_near(claim, number)
        there = roles_near(evidence, number)
        if said and there and not said & there:
            return f"{number} is a {'/'.join(sorted(there))} in the evidence, not a {'/'.join(sorted(said))}"
    return None


def digit_numbers(text: str) -> frozenset[str]:
    """The numbers written in digits in a text, as digit strings ("£8,000" and "8 000" both give "8000")."""
    return frozenset(_as_number(d.group(0)) for d in _DIGITS.finditer(_SPACED_THOUSANDS.sub("", text)))


def _as_number(digits: str) -> str:
    return digits.replace(",", "").rstrip(".")


class LexicalSupport(NamedTuple):
    """Word coverage of a claim by evidence, and the penalty its checks found (1.0 = none)."""

    coverage: float
    penalty: float
    missing_number: bool = False  # the claim states a number the evidence does not
    role_conflict: bool = False  # the claim gives a number of the evidence another role (a debt as a price)


def lexical_support(claim: str, evidence: str, context: str | None = None) -> LexicalSupport:
    """Share of the claim's content words found in the evidence (stemmed), and the penalty factor.

    ``context`` (the evidence's passage and title) is where the claim's names must
    appear: "the Prime Minister said" in a sentence may support "Starmer said"
    when the passage names him.
    """
    c, e = terms(claim), terms(evidence)
    if not c.content and not c.numbers:
        return LexicalSupport(0.0, 1.0)
    coverage = len(c.content & e.content) / len(c.content) if c.content else 1.0
    penalty = 1.0
    missing_number = bool(c.numbers - e.numbers)
    if missing_number:
        penalty *= 0.3  # a number the evidence does not state is a classic fabrication
    conflict = role_conflict(claim, evidence) is not None
    if conflict:
        penalty *= 0.3
    if c.negated != e.negated:
        penalty *= 0.6
    if missing_names(claim, context if context is not None else evidence):
        penalty *= 0.4
    return LexicalSupport(coverage, penalty, missing_number, conflict)


LEXICAL_WEIGHT = 0.6


def combine(lexical: LexicalSupport, semantic: float, weight: float = LEXICAL_WEIGHT) -> float:
    """One support score, 0..1: word coverage and cosine similarity blended, then the penalties.

    The penalties scale the whole score: cosine similarity cannot tell "rose by
    12%" from "rose by 21%", so it must not rescue a claim the checks caught
    (on evals/datasets/claims.jsonl this lifted the judge's balanced accuracy at
    the 0.5 threshold from 0.572 to 0.686).
    """
    blended = weight * lexical.coverage + (1 - weight) * max(0.0, semantic)
    return max(0.0, min(1.0, blended * lexical.penalty))


def vetoed(lexical: LexicalSupport) -> bool:
    """True when the verifier rejects a sentence without asking the LLM: it states a number the
    evidence does not, or gives a number of the evidence another money role (a debt as a price).
    Otherwise the LLM's P(the evidence entails it) decides.

    Word overlap cannot see an invented relation between words the evidence does contain ("paid £103m"
    from "had a debt of £103m"); the model sometimes can. A missing number is a fabrication the model
    lets through and the check never misses. (The name and negation checks veto too many true
    paraphrases: on the dev claims they cost 0.03 of balanced accuracy; see evals/README.md.)
    """
    return lexical.missing_number or lexical.role_conflict
