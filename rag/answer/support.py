"""Deterministic support scoring: does a piece of evidence back a claim?

No LLM: it combines how many of the claim's content words the evidence contains
(stemmed), the semantic similarity of the two (MiniLM cosine), and checks that
catch the errors word overlap misses: a number in the claim that the evidence
lacks or gives another role, a negation on one side only, a claim that states
as done what the evidence only expects, plans or supposes (:func:`hedge_conflict`),
a cause the evidence does not state (:func:`cause_conflict`) and certainty it
lacks (:func:`overstatement`). Used to verify citations at answer time and as
the "deterministic judge" of the eval suite.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from rag.ingest.chunking import split_sentences
from rag.text import SPACED_THOUSANDS, is_stopword, missing_names, names, stemmer, terms

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


def money_roles(text: str) -> frozenset[str]:
    """The roles of money a text's words speak of (payment, debt, income, penalty): a question's, say."""
    return frozenset(_ROLE_OF[w] for w in _TOKEN.findall(text.lower()) if w in _ROLE_OF)


def roles_near(text: str, number: str, before: int = 6, after: int = 4) -> frozenset[str]:
    """The money roles of the words around each mention of ``number`` (digits, e.g. "103") in ``text``."""
    tokens = _TOKEN.findall(SPACED_THOUSANDS.sub("", text.lower()))
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


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that put what follows in the future, in doubt or under a condition: "will appear", "could upset",
# "the most likely venue", "if found guilty", "a potential money-spinner"; and a fixture or a charge still ahead
# ("she faces Weingartner in the first round", "facing corporate manslaughter charges"; not "face", which a
# question asks with: "Who did she face?").
_HEDGES = _word_set(
    "will would could may might should can must shall likely unlikely improbable potential potentially possible "
    "possibly probably probable if unless chance yet pending rumours rumoured reportedly proposed proposal prospect "
    "considering whether favoured favourite tipped anticipated scheduled forecast hopefully due faces facing"
)
# ... these only when "to" follows: "hopes to compete", "is set to sign" (not "the hopes", "a set").
_HEDGES_BEFORE_TO = _word_set(
    "expected expects expect plan plans planned planning hope hopes hoped hoping set aim aims aiming bid intend "
    "intends intended want wants wanted seek seeks seeking try tries trying threatened threatens threatening asked "
    "ready poised going able need needs required ought agreed promised pledged vowed"
)
# A claim keeps the evidence's hedge in its own words with these, whatever follows them: "wants it to evolve"
# for "can evolve", "pledge to control" for "we will control", "usually needs" for "would normally take",
# "expects Owen to take over" for "I would think Owen will be". (The evidence's side keeps the narrower lists
# above: there a word must govern what follows.)
_CLAIM_HEDGES = _word_set(
    "want wants wanted wanting expect expects expected expecting pledge pledges pledged pledging promise promises "
    "promised vow vows vowed threaten threatens threatened threatening plan plans planned planning hope hopes hoped "
    "hoping intend intends intended aim aims aimed usually normally typically generally often tend tends predicted "
    "predicts urge urges urged proposes propose"
)
# A claim or question about a stance states the stance, not the thing it is taken on: "Did Starmer rule out
# leaving the ECHR?" asks about the ruling out, which is done, and not about leaving, which the evidence gives
# as what others "would" do. The words such a verb governs are not checked; the verb itself is.
_STANCES = _word_set(
    "refuse refuses refused refusing reject rejects rejected rejecting oppose opposes opposed opposing deny denies "
    "denied denying consider considers considered considering resist resists resisted resisting"
)
_RULE = _word_set("rule rules ruled ruling")  # only with "out": "ruled out quitting"
# Words after which "may" is the month, not the verb: "in may", "last may", "by the end of may".
_MONTH_BEFORE = _word_set("in of since until by last next early late mid from this end")
# Time words say when, not whether: "will today be in Strasbourg" supports "is in Strasbourg today".
_WHEN = _word_set("today tonight tomorrow yesterday monday tuesday wednesday thursday friday saturday sunday week "
                  "weekend month year season next later soon when")
_HEDGE_REACH = 3  # words after a hedge that it governs ("will [have surgery on]", "hopes to [compete at the]")
_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
# Function words are never what a hedge governs. Not rag.text's stop words: those drop "said" and "told",
# and "would say" stated as "said" is a hedge stated as done.
_LIGHT = _word_set("the a an of to in on at for and or but with by from as is are was were be been being has have "
                   "had do does did doing done that this these those it its his her their they he she we i you not no")


def month_may(tokens: Sequence[str], i: int) -> bool:
    """Whether ``tokens[i]`` (lower-cased words) is "may" the month: where a month would be, after "in", "last",
    a day number ("12 may") or before a number ("may 2004")."""
    before, after = tokens[i - 1] if i else "", tokens[i + 1] if i + 1 < len(tokens) else ""
    return tokens[i] == "may" and (before in _MONTH_BEFORE or before.isdigit() or after.isdigit())


def words_of(text: str) -> list[str]:
    """The lower-cased words of a text, in order, as the hedge and month checks read them."""
    return _WORD.findall(text.lower())


def _hedge_at(tokens: list[str], i: int) -> bool:
    token, following = tokens[i], tokens[i + 1] if i + 1 < len(tokens) else ""
    if month_may(tokens, i):
        return False
    if token in _HEDGES_BEFORE_TO:
        return following == "to"
    if token == "face":  # "goes on to face Hernych", "is due to face", "set to face": a fixture still ahead
        return i > 0 and tokens[i - 1] == "to"
    return token in _HEDGES


# Words of certainty, or of everyone, that a claim cannot add to evidence that lacks them: "Cole certainly met"
# from "cole reportedly met", "he will definitely not be fit" from "he is unlikely to be fit".
_CERTAINTY = _word_set("definitely certainly undoubtedly entirely wholly everyone everybody nobody")


def overstatement(claim: str, evidence: str) -> str | None:
    """A word of certainty or of everyone in the claim ("certainly", "everyone") that the evidence does not use
    (its stem aside: "certain" keeps "certainly"), or None."""
    stem = stemmer().stemWord
    there = {stem(word) for word in words_of(evidence)}
    return next((word for word in words_of(claim) if word in _CERTAINTY and stem(word) not in there), None)


def hedge_conflict(claim: str, evidence: str) -> str | None:
    """The word the claim states as done that the evidence only ever says under a hedge ("appear" in "did appear"
    from "will appear", "won" from "hopes to win", "decided that the venue is" from "the most likely venue"), or
    None.

    A claim that keeps a hedge of its own is not stating anything as done, and is left alone; the words a
    stance verb governs ("ruled out [leaving the ECHR]") are not stated as done either, and are not checked.
    """
    said = words_of(claim)
    if any(_hedge_at(said, i) for i in range(len(said))) or not _CLAIM_HEDGES.isdisjoint(said):
        return None
    stance_of: set[int] = set()
    for i, word in enumerate(said):
        following = said[i + 1] if i + 1 < len(said) else ""
        if word in _STANCES or (word in _RULE and following == "out"):
            stance_of.update(range(i + 1, i + 2 + _HEDGE_REACH))  # one more for "out" or "to"
    there = words_of(evidence)
    governed: set[int] = set()
    for i in range(len(there)):
        if _hedge_at(there, i):
            reach = _HEDGE_REACH + (1 if there[i] in _HEDGES_BEFORE_TO else 0)  # "to" is not one of the words
            governed.update(range(i + 1, i + 1 + reach))
    # Three-letter verbs are what a result turns on ("win", "tie", "ban"); not function words or a name's part ("Old").
    named = names(claim)
    stem = stemmer().stemWord
    where: dict[str, list[int]] = {}
    for i, word in enumerate(there):
        where.setdefault(stem(word), []).append(i)
    for at, word in enumerate(said):
        if (at in stance_of or word in _LIGHT or word in _WHEN or len(word) < 3
                or (len(word) == 3 and (is_stopword(word) or word in named))
                or any(ch.isdigit() for ch in word)):
            continue
        found = where.get(stem(word))
        if found and all(i in governed for i in found):
            return word
    return None


# A claim that says one thing caused another ("X is why Y", "Y because of X", "thanks to X, Y") ...
_CLAIMED_CAUSE = re.compile(
    r"\b(?:(?:which|that|this) (?:is|was) why|(?:is|was|are|were) why|because(?: of)?|due to(?! be\b)|owing to|"
    r"as a result of|led to|leads? to|caused|causes|result(?:ed|s) in|thanks to|the reason (?:for|why|that)|"
    r"the factor behind)\b",
    re.IGNORECASE,
)
# ... is supported only by a sentence that states a cause too. Not "after" or "then": a sequence is not a
# cause. "as" and "since" give a reason when a clause follows them ("as they won them as Ukip members").
_STATED_CAUSE = re.compile(
    r"\b(?:because|why|due to(?! be\b)|owing to|as a result|result of|resulted|leads? to|led to|leading to|"
    r"caus(?:e|ed|es|ing)|thanks to|reasons?|factor|so|therefore|hence|consequently|meant|means|"
    r"(?:as|since) (?:he|she|they|it|we|i|you))\b",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(r"[;:,]|\s[-–—]\s")
_CAUSE_SHARE = 0.5  # of each side's content words that the causal sentence must contain


def _cause_and_effect(claim: str) -> list[tuple[str, str, str]]:
    """Each causal phrase of the claim, lower-cased, with the two clauses it joins: "X is why Y" gives
    ("is why", X, Y); "thanks to X, Y" gives ("thanks to", X, Y) too, since the phrase opens its clause."""
    found = []
    for match in _CLAIMED_CAUSE.finditer(claim):
        phrase = match.group(0).lower()
        before = _CLAUSE_BREAK.split(claim[: match.start()])[-1]
        after = _CLAUSE_BREAK.split(claim[match.end() :])
        if not terms(before).content and len(after) > 1:
            found.append((phrase, after[0], after[1]))
        else:
            found.append((phrase, before, after[0]))
    return found


def _mostly_in(part: str, sentence: str) -> bool:
    said, there = terms(part), terms(sentence)
    wanted = said.content | said.numbers
    return not wanted or len(wanted & (there.content | there.numbers)) / len(wanted) >= _CAUSE_SHARE


def cause_conflict(claim: str, evidence: str) -> str | None:
    """A causal phrase of the claim ("is why", "because") for which no sentence of the evidence both states a
    cause and holds the two things the phrase joins, or None. "Thomas being replaced is why his side turned
    around a deficit" from "thomas was replaced … as his side turned around a deficit" is a cause invented from
    a sequence.
    """
    claimed = _cause_and_effect(claim)
    if not claimed:
        return None
    flat = " ".join(evidence.split())
    causal = [flat[a:b] for a, b in split_sentences(flat) if _STATED_CAUSE.search(flat[a:b])]
    for phrase, cause, effect in claimed:
        if not any(_mostly_in(cause, s) and _mostly_in(effect, s) for s in causal):
            return phrase
    return None


def digit_numbers(text: str) -> frozenset[str]:
    """The numbers written in digits in a text, as digit strings ("£8,000" and "8 000" both give "8000")."""
    return frozenset(_as_number(d.group(0)) for d in _DIGITS.finditer(SPACED_THOUSANDS.sub("", text)))


def _as_number(digits: str) -> str:
    return digits.replace(",", "").rstrip(".")


class LexicalSupport(NamedTuple):
    """Word coverage of a claim by evidence, and the penalty its checks found (1.0 = none)."""

    coverage: float
    penalty: float
    missing_number: bool = False  # the claim states a number the evidence does not
    role_conflict: bool = False  # the claim gives a number of the evidence another role (a debt as a price)
    hedged: bool = False  # the claim states as done what the evidence only expects or supposes
    unstated_cause: bool = False  # the claim says one thing caused another; the evidence says no such cause
    overstated: bool = False  # the claim adds certainty or "everyone" to the evidence


def _pronoun_one(claim: str) -> frozenset[str]:
    """{"1"} when the claim's 1 is only the word "one", which is as often a pronoun ("a campaign for one", "no
    one"): not a number a claim can be caught inventing. Empty when the claim writes 1 in digits."""
    return frozenset() if "1" in digit_numbers(claim) else frozenset({"1"})


_SCALED = re.compile(r"(\d+(?:\.\d+)?)\s*(m|million|bn|billion|k|thousand)\b", re.IGNORECASE)
_SCALE = {"m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9, "k": 1e3, "thousand": 1e3}
_ROUNDING = 0.1  # "more than £11m", "nearly £12m" for £11 724 929


def rounded_numbers(claim: str, evidence: str) -> frozenset[str]:
    """The claim's amounts that round one the evidence writes in full ("£11m" for "£11 724 929"), as digits."""
    stated = [float(n) for n in digit_numbers(evidence) if n.replace(".", "", 1).isdigit()]
    found = set()
    for match in _SCALED.finditer(claim):
        value = float(match.group(1)) * _SCALE[match.group(2).lower()]
        if any(abs(value - n) <= _ROUNDING * n for n in stated):
            found.add(_as_number(match.group(1)))
    return frozenset(found)


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
    missing_number = bool(c.numbers - e.numbers - _pronoun_one(claim) - rounded_numbers(claim, evidence))
    if missing_number:
        penalty *= 0.3  # a number the evidence does not state is a classic fabrication
    conflict = role_conflict(claim, evidence) is not None
    if conflict:
        penalty *= 0.3
    if c.negated != e.negated:
        penalty *= 0.6
    if missing_names(claim, context if context is not None else evidence):
        penalty *= 0.4
    hedged = hedge_conflict(claim, evidence) is not None
    if hedged:
        penalty *= 0.3
    unstated_cause = cause_conflict(claim, evidence) is not None
    if unstated_cause:
        penalty *= 0.3
    overstated = overstatement(claim, evidence) is not None
    if overstated:
        penalty *= 0.3
    return LexicalSupport(coverage, penalty, missing_number, conflict, hedged, unstated_cause, overstated)


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
    evidence does not, gives a number of the evidence another money role (a debt as a price), states
    as done what the evidence only expects or supposes, states a cause the evidence does not (a
    sequence read as a cause), or adds certainty ("certainly", "everyone") the evidence lacks. Otherwise the
    LLM's P(the evidence entails it) decides.

    Word overlap cannot see an invented relation between words the evidence does contain ("paid £103m"
    from "had a debt of £103m"); the model sometimes can. A missing number is a fabrication the model
    lets through and the check never misses. (The name and negation checks veto too many true
    paraphrases: on the dev claims they cost 0.03 of balanced accuracy; see evals/README.md.)
    """
    return (lexical.missing_number or lexical.role_conflict or lexical.hedged or lexical.unstated_cause
            or lexical.overstated)
