"""What a copied answer must satisfy before the select strategy quotes it.

For most questions that look answerable the small model copies *some* phrase from
the best sentences, including questions the articles do not answer: a fee that was
never disclosed, a quote by someone else, a match the articles do not report. Its
P(NONE) does not tell these apart from real answers (no threshold separates them;
see evals/README.md), but the question says what kind of answer it wants and whose
words, which number or which name it is about. Each check here is one such mismatch
between the question and what was copied, with a reason the user can read; they
are deterministic except the speaker check, which asks the model who is speaking.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from rag.answer.extractive import is_yes_no
from rag.answer.prompts import NONE, sanitize_evidence
from rag.answer.support import digit_numbers, hedge_conflict, money_roles, role_conflict
from rag.ingest.chunking import split_sentences
from rag.text import SPACED_THOUSANDS, fold_accents, is_stopword, missing_names, names, terms, words

_WH = r"(?:what|which|who|whom|whose|when|where|why|how)"
# The question word that opens the question ("And what…", "According to X, who…" count too).
_LEAD_IN = r"(?:and|so|but|then)\s+"  # what may come before a follow-up's question word
_OPENING_WH = re.compile(rf"^\s*(?:{_LEAD_IN}|according to [^,?]+,\s*)?{_WH}\b", re.IGNORECASE)
_ANY_WH = re.compile(rf"\b{_WH}\b", re.IGNORECASE)
_YES_NO_OPENING = re.compile(
    rf"^\s*(?:{_LEAD_IN})?(?:did|does|do|has|have|had|is|are|was|were|will|would|can|could|should)\b", re.IGNORECASE
)
# Questions whose answer is a quantity, and those whose quantity is a sum of money.
_QUANTITY = re.compile(
    r"\b(?:how (?:much|many|long|old|far|often)|what (?:fee|price|percentage|sum|amount|age|score|salary))\b",
    re.IGNORECASE,
)
_MONEY = re.compile(
    r"\b(?:what (?:fee|price|sum|salary)|how much\b.*\b(?:pay|paid|cost|costs|fee|price|worth|spend|spent|money|earn|"
    r"earned|earns|salary|wages?|prize|charge|charged|fined?|sell|sold|buy|bought|raise|raised|owe|owed))\b",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_NUMBER_WORD = re.compile(
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|twenty|thirty|forty|fifty|sixty|"
    r"seventy|eighty|ninety|hundred|thousand|million|billion|dozen|half|double|triple)\b", re.IGNORECASE,
)
_MONEY_WORDS = r"pounds?|euros?|dollars?|pence|francs?|rand|yen"
_CURRENCY = re.compile(rf"[£$€¥]|\d\s*(?:m|bn|k|p)\b|\b(?:{_MONEY_WORDS}|cents?)\b", re.IGNORECASE)
# "What did X say…", "How does X describe…": questions about someone's words, and who X is.
SPEECH = re.compile(
    r"^\s*(?:what|how)\s+(?:did|does|do|has|have|had|will|would|was|is)\s+(?P<speaker>.+?)\s+"
    r"(?:(?:first|later|then|also|initially|now)\s+)?(?:say|said|think|tell|told|respond|react|reply|make of|"
    r"describe|warn|claim|argue|believe|feel|call|admit|concede|insist|suggest|write|wrote|accuse|mean)\b",
    re.IGNORECASE,
)
# Questions that offer two opposite answers ("Did the North East vote for or against…?"): yes or no says neither.
_OPPOSITES = re.compile(
    r"\b(?:for or against|against or for|won or lost|win or lose|lost or won|rise or fall|up or down|"
    r"increase or decrease|guilty or (?:not guilty|innocent)|true or false|accept(?:ed)? or reject(?:ed)?)\b",
    re.IGNORECASE,
)
# Questions about something that happened: "Did Hansen compete…?", "Who did Munster beat…?", "Has the club paid…?",
# "Who won when Rochus played Hernych?". Not "Why/How did…?": they ask about an event they take as given, and
# their other words are its background ("Why did Heath's attempt to stay with Liberal support fall apart?").
_HAPPENED = re.compile(
    r"^\s*(?:did|has|have|had|was|were)\b|(?<!why )(?<!how )(?<!when )(?<!where )\bdid\b"
    r"|\b(?:who|which\s+\w+)\s+(?:won|beat|lost|defeated)\b",
    re.IGNORECASE,
)
# Replies that name no one in particular: a role or a pronoun says nothing about who X is.
_UNNAMED = re.compile(r"^(?:the|a|an|he|she|they|it|his|her|their|we|i|you|none|unknown)\b", re.IGNORECASE)
# A reply that is a role without an article ("Prime Minister", "Home Office source"): no name either.
_ROLE = re.compile(
    r"(?:(?:prime|foreign|home|deputy|former|shadow|chief|general|executive|assistant|vice|interim|first|press|"
    r"senior|party|club|team|government|office|department|labour|tory|conservative)\s+)*(?:minister|secretary|"
    r"president|chancellor|leader|spokes(?:man|woman|person)|chairman|chairwoman|chair|director|executive|boss|"
    r"head|manager|coach|captain|official|source|commissioner|mp|mep|premier|ambassador)s?",
    re.IGNORECASE,
)
# A speaker the question names (a capital letter somewhere), not only describes ("the referee", "his manager").
_NAMED = re.compile(r"[A-Z]")
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "sir", "lord", "lady", "dame", "prof", "professor"})


# Questions whose answer must add to the question's own words: a reason, a manner, a time or a place, a name or
# a title. A reply made only of the question's words ("Srichaphan pulled out of the Kooyong Classic" for "Why
# did Srichaphan pull out…?", "Home Secretary" for "What is the name of the Home Secretary…?") restates what
# it asks. Not "which"/"what" in general: "Article 8 claims" for "Which Article 8 claims will fail?" copies the
# question's noun from quotes that do hold the answer (see evals/README.md), and so does "Michael Howard is
# visiting Conservative candidates" for "Which two candidates is Michael Howard visiting?".
_ADDS_TO_QUESTION = re.compile(
    rf"^\s*(?:{_LEAD_IN})?(?:why|how|when|where|who\s+(?:is|was|are|were)|what\s+reasons?)\b|\b(?:name|title)\s+of\b|"
    rf"^\s*(?:{_LEAD_IN})?what\b[^?]*\bfor\s*\?\s*$",  # "What did Mido apologise for?" asks a reason too
    re.IGNORECASE,
)


# What a sentence says of something nobody knows yet. Not "doubt" or "doubtful": the previews' "X is a slight doubt
# with a hamstring injury" is about a player, not about whether the event asked of happens.
_UNKNOWN = re.compile(r"\b(?:unclear|uncertain|unsure|unknown|undecided|whether|not (?:clear|known|certain)|"
                      r"remains to be seen)\b", re.IGNORECASE)
# What a sentence says of a claim still to be proved: "…were caught operating a vote-rigging factory, an election
# court has heard", "allegations", "denies". A yes to "Were they found guilty?" cannot rest on it.
# Passive only: "Blair accused Howard of…" and "the firm charged customers more" are things done, not allegations.
_ALLEGED = re.compile(r"\b(?:(?:court|jury|tribunal|inquiry|hearing|trial)\s+(?:has\s+|had\s+|was\s+)?(?:heard|told)|"
                      r"alleged(?:ly)?|allegations?|(?:is|are|was|were|been|being|be)\s+(?:accused|charged)|"
                      r"den(?:y|ies|ied)\s+(?:\w+\s+){0,2}(?:charges?|wrongdoing|claims?))\b", re.IGNORECASE)
# ... which a question may ask about itself ("Was Smith charged with fraud?", "Did he deny it?").
_ASKS_OF_ALLEGATION = re.compile(r"\b(?:charg\w*|accus\w*|alleg\w*|den(?:y|ies|ied)|court|trial|hearing)\b",
                                 re.IGNORECASE)
# ... unless the same sentence settles it: "was found guilty of fraud, which he had denied".
_VERDICT = re.compile(r"\b(?:found\s+(?:not\s+)?guilty|convicted|acquitted|cleared|pleaded\s+(?:not\s+)?guilty|"
                      r"admitted|jailed|sentenced|fined|banned|suspended)\b", re.IGNORECASE)
# Questions that ask for a reason, and the words that may join the parts of a name ("Bank of England").
_REASON = re.compile(rf"^\s*(?:{_LEAD_IN})?(?:why|what\s+(?:made|caused|led))\b", re.IGNORECASE)
_NAME_JOINERS = frozenset({"of", "the", "and", "de", "for"})


def _only_names(phrase: str) -> bool:
    """Whether the phrase is nothing but a name or a list of names ("Palancas Negras", "Citizens of Switzerland,
    Liechtenstein and Norway"): two or more capitalised words that are not function words ("Because" is one)."""
    tokens = re.findall(r"[A-Za-z][A-Za-z'’-]*", phrase)
    named = [t for t in tokens if t.lower() not in _NAME_JOINERS]
    return len(named) >= 2 and all(t[0].isupper() and not is_stopword(t.lower()) for t in named)


# A phrase that only says who spoke and where or when ("He said at his monthly news conference.", "Collins told
# BBC Radio Five Live."): it answers where, when or to whom it was said, and nothing else.
_SAYS_VERB = r"(?:said|says|added|adds|explained|insisted|argued|claimed|stated|wrote|commented|replied|told|tells)"
_ATTRIBUTION_ONLY = re.compile(
    rf"^\s*(?:he|she|they|we|i|it|[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*){{0,3}})\s+{_SAYS_VERB}"
    r"(?:\s+(?:the\s+)?[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*)?"  # told (the) BBC Radio Five Live
    r"(?:\s+(?:at|in|on|to|during|after|before|from|while|this|last|yesterday|today|earlier|later)\b"
    r"(?:\s+(?!that\b|is\b|was\b|were\b|are\b|would\b|will\b|had\b|has\b|could\b|should\b)[\w'’.-]+){0,6})?"
    r"\s*[.!]?\s*$"
)
_WHERE_WHEN_WHOM = re.compile(r"\b(?:where|when|who|whom)\b", re.IGNORECASE)


# "Who won the final between Johansson and Dent?" offers its answers: a third name ("Leicester", the next round's
# opponent in a preview) answers something else. A draw or a score answers too.
_WHO_PREVAILED = re.compile(
    rf"^\s*(?:{_LEAD_IN})?(?:who|which\s+(?:team|side|club|player|country|party|candidate|one))\s+"
    r"(?:won|went\s+through|progressed|advanced|qualified|prevailed|triumphed|lost|came\s+out\s+on\s+top|"
    r"got\s+through)\b",
    re.IGNORECASE)
_OFFERED = re.compile(r"\bbetween\s+(?P<a>.+?)\s+and\s+(?P<b>.+?)(?=\s+(?:at|in|on|last|this|for|during|after|"
                      r"before)\b|\s*[?,.]|\s*$)|,\s*(?P<c>[^,?]+?)\s+or\s+(?P<d>[^,?]+?)\s*\?\s*$", re.IGNORECASE)
_NO_WINNER = re.compile(r"\b(?:draw|drew|drawn|level|tied|neither|nobody|no\s+one|replay)\b|\d+\s*-\s*\d+",
                        re.IGNORECASE)


def _neither_offered(question: str, phrase: str) -> str | None:
    """The two sides a who-won question offers ("between Blackburn and Burnley"), when the phrase names neither of
    them and gives no draw or score; None otherwise."""
    offered = _OFFERED.search(question) if _WHO_PREVAILED.match(question) else None
    if offered is None or _NO_WINNER.search(phrase):
        return None
    sides = [side for side in offered.groupdict().values() if side]
    said = terms(phrase).content
    if not said or any(said & terms(side).content for side in sides):
        return None
    return " and ".join(sides)


# "How many passengers…?" asks for a count: a sum of money ("£100m", what something costs) or a share ("60%" of
# prisoners reconvicted) counts nothing. Not "How many pounds/millions/per cent…", which ask for one in a count's words.
_HOW_MANY = re.compile(rf"\bhow many\b(?!\s+(?:{_MONEY_WORDS}|millions?|billions?|thousands?|per\s*cent|percent|"
                       r"percentage)\b)", re.IGNORECASE)
_ASKS_SHARE = re.compile(r"%|\b(?:per\s*cent|percent|percentage|proportion|share|rate)\b", re.IGNORECASE)
_SHARE = re.compile(r"\d[\d,.]*\s*(?:%|per\s*cent\b|percent\b)", re.IGNORECASE)


def _no_count(question: str, phrase: str) -> str | None:
    """What every amount the phrase gives is, when none is a count: "a sum of money" ("£100m", "25m pounds") or
    "a share" ("60%"); None when it gives a count too ("£5m for 200 jobs"), no amount, or the share the question
    asks for ("How many…, as a percentage?")."""
    kinds = [kind for kind, pattern in (("a sum of money", _SUM), ("a share", _SHARE)) if pattern.search(phrase)]
    rest = _SHARE.sub(" ", _SUM.sub(" ", phrase))
    if not kinds or _DIGIT.search(rest) or _NUMBER_WORD.search(rest) or (kinds == ["a share"]
                                                                          and _ASKS_SHARE.search(question)):
        return None
    return " and ".join(kinds)


# "Which hospice was he taken to?" asks which one: "a london hospice" (copied, or copied from "…to a london
# hospice") says only that there was one, and the kind of thing the question names.
_WHICH = re.compile(rf"^\s*(?:{_LEAD_IN})?which\b(?!\s+of\b)", re.IGNORECASE)
_ONE_OF = r"(?:a|an|another|one|some|several|various)"
_INDEFINITE = re.compile(rf"\b{_ONE_OF}$", re.IGNORECASE)


def _unidentified(question: str, phrase: str, sentence: str) -> bool:
    """Whether a which-question's phrase names only the kind of thing asked about, as one of a kind: it opens with
    "a"/"an"/"another"…, or its sentence puts one of those right before it; and it shares a word with the question."""
    reply = _lowered(phrase.strip(" .!\"'"))
    if not _WHICH.match(question) or not terms(reply).content & terms(question).content:
        return False
    if re.match(rf"{_ONE_OF}\s", reply):
        return True
    lowered = _lowered(sentence)
    at = lowered.find(reply)
    return at > 0 and bool(_INDEFINITE.search(lowered[:at].rstrip()))


# "How much money has the Scottish Executive given…?" asks what was done: "…the appeal, which is expected soon to top
# £20m" gives an expectation. An amount its sentence gives only a few words after a word of expectation does not
# answer a question about what was done (did/has/was…), unless the question looks ahead itself. Not support's
# hedge_conflict: it reads no numbers (a number veto there traded a supported claim for an invented one on the dev
# claims), counts "will" as a hedge ("will cost £5m" answers "How much does it cost?") and needs "expected" right
# before "to".
_EXPECTING = re.compile(r"\b(?:expected|expects|expect|likely|could|might|may|would|forecast|predicted|projected|"
                        r"hoped?|hopes|aims?|aiming|targets?|poised|tipped|potentially|possibly|set\s+to)\b",
                        re.IGNORECASE)
_DONE_QUESTION = re.compile(r"\b(?:did|has|have|had|was|were)\b", re.IGNORECASE)
_LOOKS_AHEAD = re.compile(r"\b(?:will|going\s+to|plans?|planned|planning|intends?|future|next)\b", re.IGNORECASE)
_EXPECTING_REACH = 5  # words before an amount that a word of expectation governs ("expected soon to top £20m")


def _expected_amount(question: str, phrase: str, sentence: str) -> str | None:
    """The word of expectation before every mention of the phrase's amount in its sentence, for a quantity question
    about what was done; None otherwise."""
    if (not _DONE_QUESTION.search(question) or _EXPECTING.search(question) or _LOOKS_AHEAD.search(question)
            or not (_QUANTITY.search(question) or _MONEY.search(question))):
        return None
    wanted = digit_numbers(phrase)
    tokens = sentence.split()
    at = [i for i, token in enumerate(tokens) if digit_numbers(token) & wanted]
    found = [_EXPECTING.search(" ".join(tokens[max(0, i - _EXPECTING_REACH):i])) for i in at]
    last = found[-1] if at and all(found) else None
    return last.group(0).lower() if last else None


def _within(found: frozenset[str] | set[str], there: frozenset[str]) -> bool:
    """Whether every stem of ``found`` is in ``there``, up to a participle's ending that Snowball keeps."""
    def near(a: str, b: str) -> bool:  # "fall"/"fallen", "give"/"given"; not "republ"/"republican"
        short, long = sorted((a, b), key=len)
        return len(short) >= 4 and long.startswith(short) and len(long) - len(short) <= 2

    return all(word in there or any(near(word, other) for other in there) for word in found)


# "Who is Alain Berset?": a question about whom a name belongs to. The model copies the name from the sentence that
# says who he is ("Council of Europe secretary general Alain Berset"), and the quotes shown are that sentence. What the
# question already knows of him may follow the name ("Who is Sir John Gieve, knighted in the New Year honours?").
_NAME_WORD = r"(?:[A-Z][\w'’.-]*|of|de|van|von|du|da|al)"
_IDENTITY = re.compile(
    rf"^\s*(?i:(?:{_LEAD_IN})?who\s+(?:is|was))\s+(?!the\b|a\b|an\b){_NAME_WORD}(?:\s+{_NAME_WORD})*"
    r"(?:\s*,[^?]*)?\s*\??\s*$"
)


def _restates_question(question: str, phrase: str) -> bool:
    """Whether the phrase only restates a question whose answer must add to its words (see _ADDS_TO_QUESTION):
    it is made of the question's own words and numbers."""
    if not _ADDS_TO_QUESTION.search(question) or _IDENTITY.match(question):
        return False
    said, asked = terms(phrase), terms(question)
    return bool(said.content) and _within(said.content, asked.content) and said.numbers <= asked.numbers


# A short answer is a copy: a word of it that the quotes lack came from the model's own knowledge. (A longer
# phrase may rephrase the quotes around the answer; phrase_found in rag.answer.extractive scores those.)
SHORT_ANSWER_WORDS = 3


def answer_mismatch(question: str, phrase: str, quotes: Sequence[str], *, cut: bool = False) -> str | None:
    """Why ``phrase``, copied from ``quotes`` as the answer, cannot answer ``question`` (None: no mismatch found).
    ``cut``: the model's reply was cut at its token limit, so the phrase may stop short of what it adds
    ("X said he went public because").

    Type checks apply only to one-part questions: in "How much…, and who…?" the phrase may answer either part.
    """
    text = " ".join(quotes)
    yes_no = is_yes_no(phrase)
    # Words only: numbers and amounts may be re-written ("£103m", "103 million pounds"); corpora differ on "I'm".
    said = {w for w in terms(phrase).content
            if "'" not in w and not _NUMBER_WORD.fullmatch(w) and not _CURRENCY.fullmatch(w)}
    if not yes_no and 0 < len(said) <= SHORT_ANSWER_WORDS and not _within(said, terms(text).content):
        return f"the language model's answer {phrase!r} is not in the best sentences (it came from elsewhere)"
    # "Has he ever voted on it, and how far would he go?" has a yes/no part before its wh-part: two parts.
    one_part = len(_ANY_WH.findall(question)) == 1 and not _YES_NO_OPENING.match(question)
    opening, offered = _OPENING_WH.match(question), _OPPOSITES.search(question)
    reply = phrase.strip(" .!\"'").lower()
    if one_part and opening and yes_no:
        word = opening.group(0).split()[-1].lower()
        return f"the language model replied {reply!r}, which does not answer a {word}-question"
    if offered and yes_no:
        return f"the language model replied {reply!r}, which does not say which of {offered.group(0)!r}"
    if not yes_no and not cut and _restates_question(question, phrase):  # whichever part it answers
        return f"the language model's answer {phrase!r} only repeats the question"
    # Not for "What did X say…?": there "Strachan told the BBC." points at X's words, which the speaker check reads.
    if (not cut and _ATTRIBUTION_ONLY.match(phrase) and not _WHERE_WHEN_WHOM.search(question)
            and speaker(question) is None):
        return f"the language model's answer {phrase!r} only says who spoke, not what the question asks"
    neither = _neither_offered(question, phrase) if not yes_no else None
    if neither:
        return f"the language model's answer {phrase!r} is neither of the two the question asks about ({neither})"
    if one_part and _REASON.search(question) and _only_names(phrase):
        return f"the language model's answer {phrase!r} is a name, not a reason"
    if one_part and _MONEY.search(question) and not (_CURRENCY.search(phrase) and _a_sum_there(phrase, text)):
        return f"the question asks for a sum of money and the best sentences give none ({phrase!r})"
    if one_part and _QUANTITY.search(question) and not (_DIGIT.search(phrase) or _NUMBER_WORD.search(phrase)):
        return f"the question asks for a number and the best sentences give none ({phrase!r})"
    uncounted = _no_count(question, phrase) if one_part and _HOW_MANY.search(question) else None
    if uncounted:
        return f"the question asks how many and {phrase!r} is {uncounted}, not a count"
    if one_part and opening and opening.group(0).split()[-1].lower() == "when" and _bare_number(phrase):
        return f"the language model replied {reply!r}, a number that is no date or time, to a when-question"
    copied_from = answering_sentence(phrase, quotes)[0]  # the sentence the phrase was copied from
    if one_part and not yes_no and _unidentified(question, phrase, copied_from):
        return f"the best sentences do not say which: {phrase!r} is only one of its kind"
    if opening and not yes_no and not _NEGATION.search(question):
        refused = _about_question(_NOT_DONE, question, copied_from)
        if refused:
            return f"the best sentences say it was not done ({refused!r}), which the question takes as done"
    if one_part and _HOW_LONG.search(question) and _not_a_duration(phrase):
        return f"the question asks how long and {phrase!r} is no length of time"
    absent = sorted(digit_numbers(_IDENTIFIER.sub("", question)) - digit_numbers(text))
    if absent:
        return f"the best sentences never mention {', '.join(absent)}, which the question asks about"
    # The sentence a copied number comes from says what it is a number of, for both checks below.
    numbered = copied_from if _DIGIT.search(phrase) or _NUMBER_WORD.search(phrase) else ""
    # Only for a sum: a count ("just 24 issued", for how many fines) has no money role, whatever words are near it.
    roles = money_roles(question) if _MONEY.search(question) or _CURRENCY.search(phrase) else frozenset()
    if roles and _DIGIT.search(phrase):
        conflict = role_conflict(phrase, numbered or text, claim_roles=roles)
        if conflict:
            return f"the best sentences do not say it: {conflict}"
    expected = _expected_amount(question, phrase, numbered) if numbered and not yes_no else None
    if expected:
        return f"the best sentences give {phrase!r} only as {expected!r}, and the question asks what was done"
    counted = _counts_another(question, phrase, numbered) if numbered else None
    if counted:
        return f"the best sentences do not say it: {phrase!r} {counted}"
    unnamed = sorted(missing_names(phrase, text) & names(question))
    if unnamed:
        return f"the language model's answer names {', '.join(unnamed)}, whom the best sentences never mention"
    # A bare yes or no rests on the sentence that best matches the question.
    best = answering_sentence(question, quotes)[0] if yes_no else ""
    if _HAPPENED.search(question) and speaker(question) is None:
        hedged = hedge_conflict(question, text)  # the question asks whether it happened; the quotes only expect it
        if hedged is None and yes_no:
            hedged = hedge_conflict(question, best)
        if hedged:
            return f"the best sentences do not say it happened: {hedged!r} only as expected, planned or possible"
        # What the question asks about, named as still to come; not when the question looks ahead itself.
        ahead = _about_question(_AHEAD, question, best) if yes_no and not _AHEAD.search(question) else None
        if ahead:
            return f"the best sentences give it as still ahead ({ahead!r}): neither yes nor no"
    if yes_no:  # "…though it is unclear if that will be in time for the games": neither yes nor no
        unknown = _UNKNOWN.search(best)
        if unknown and not _UNKNOWN.search(question):  # "Is it unclear whether…?" asks about the doubt itself
            return f"the best sentences leave it open ({unknown.group(0).lower()!r}): neither yes nor no"
        alleged = _ALLEGED.search(best) if not _VERDICT.search(best) else None
        if alleged and not _ASKS_OF_ALLEGATION.search(question):  # "Was he charged?" asks about the charge itself
            return f"the best sentences give it only as alleged ({alleged.group(0).lower()!r}): neither yes nor no"
    return None


# A number that names something rather than counting it: "Article 8", "Channel 4", "Formula 1" (a capitalised
# word that is not a possessive, then one to three digits). A quote about "Labour's Article 8 plans" need not
# repeat the 8; a year or an amount the question asks about must be there.
_IDENTIFIER = re.compile(r"(?<=[a-z,;:]\s)[A-Z][a-z]+\s+\d{1,3}\b(?![.,]?\d|\s*(?:%|per\b|m\b|bn\b|k\b))")
_YEAR = re.compile(r"\b(?:1[89]\d\d|20\d\d)\b")
# What a figure counts, when the text says so: "the number of MPs", "the share of the vote".
_COUNT_OF = re.compile(r"\b(?:number|percentage|proportion|share|amount|total)\s+of\s+((?:[\w'-]+\s+){0,2}[\w'-]+)",
                       re.IGNORECASE)


def _counts_another(question: str, phrase: str, sentence: str) -> str | None:
    """How the sentence that gives the phrase's number shows it to be another figure than the one asked for
    (None: it does not): it is for another year ("167 … in 2001" for "…in 1997"), or it is the number of
    something else ("the number of MPs" for "the number of special advisers")."""
    asked_years = set(_YEAR.findall(question))
    year = _year_of(terms(phrase).numbers, sentence) if asked_years else None
    if year and not asked_years & set(_YEAR.findall(sentence)):
        return f"is given for {year}, not {', '.join(sorted(asked_years))}"
    if year and year in asked_years:
        asked_as, given_as = _period_words(question, year), _period_words(sentence, year)
        if asked_as and given_as and asked_as <= _POINT and not given_as & _POINT:
            return f"is given {'/'.join(sorted(given_as))} {year}, not in {year}"
    asked, given = _counted(question), _counted(sentence)
    if asked and given and not terms(asked).content & terms(given).content:
        return f"is the number of {given}, not of {asked}"
    return None


# The word before a year says whether a figure is of that year ("in 1999") or of a period it opens or closes
# ("since 1999": "more than £10m since 1999" is no gift made in 1999).
_POINT = frozenset({"in", "during", "of", "for"})


def _period_words(text: str, year: str) -> set[str]:
    """The words just before each mention of ``year`` in text, lower-cased."""
    return {found.lower() for found in re.findall(rf"\b(\w+)\s+{year}\b", text)}


def _year_of(numbers: frozenset[str], sentence: str) -> str | None:
    """The year the sentence gives a number for: the year nearest to it with no other number between them
    ("a majority of 167 over the Conservatives in 2001"; not in "£1bn, up from £800m in 2003")."""
    tokens = [terms(token).numbers for token in sentence.split()]
    at = [i for i, found in enumerate(tokens) if found & numbers]
    years = [i for i, found in enumerate(tokens) if any(_YEAR.fullmatch(n) for n in found)]
    pairs = sorted((abs(i - j), i, j) for i in at for j in years if i != j)
    if not pairs:
        return None
    _, i, j = pairs[0]
    if any(tokens[k] for k in range(min(i, j) + 1, max(i, j))):  # another number holds the year
        return None
    return next(n for n in tokens[j] if _YEAR.fullmatch(n))


def _counted(text: str) -> str | None:
    """What a text says a figure counts ("the number of MPs by about…" → "mps"), if it says."""
    match = _COUNT_OF.search(text)
    if not match:
        return None
    counted = []
    for word in match.group(1).lower().split():
        if terms(word).content:
            counted.append(word)
        elif counted:  # "by", "in": the counted thing has ended ("the" before it is skipped)
            break
    return " ".join(counted) or None


# A sentence that says something was not done, and the verb it says it of: "…but refused to set a target number".
_NOT_DONE = re.compile(r"\b(?:refus(?:ed|es)|declin(?:ed|es)|fail(?:ed|s)|did not|didn't|would not|wouldn't|will not|"
                       r"won't|has not|hasn't|have not|haven't|had not|never)\s+(?:to\s+|yet\s+|been\s+)?([a-z'-]+)",
                       re.IGNORECASE)
# A question that asks about something not done itself ("Why won't Starmer leave?", "What did he refuse to say?").
_NEGATION = re.compile(r"\b(?:not|never|refus\w*|declin\w*|fail\w*|rule[sd]? out|ruling out)\b|n't\b", re.IGNORECASE)


def _about_question(pattern: re.Pattern[str], question: str, sentence: str) -> str | None:
    """The first match of ``pattern`` in the sentence whose group 1 holds one of the question's own words: what
    the sentence says of the thing asked about ("refused to set" for "What target did Starmer set…?", "next
    month s european indoor championships" for "Did Claxton win a medal at the European indoor championships?")."""
    asked = terms(question).content
    for found in pattern.finditer(sentence):
        if terms(found.group(1)).content & asked:
            return found.group(0)
    return None


# An event the text names as still to come: "next month's European indoor championships", "the upcoming final".
_AHEAD = re.compile(r"\b(?:next|upcoming|forthcoming|coming)\s+(?:(?:week|month|year|season|weekend|summer|winter|"
                    r"spring|autumn)(?:'s|’s|\s+s)?\s+)?((?:[\w'’-]+\s+){0,2}[\w'’-]+)", re.IGNORECASE)


# An amount written as money: "£1.7m", "$25 000", "25m pounds", "three pence".
_SUM = re.compile(
    r"[£$€¥]\s*\d[\d,. ]*\s*(?:m|bn|k)?|(?:\d[\d,. ]*|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|"
    rf"twelve|twenty|fifty|hundred))\s*(?:m|bn|k|million|billion)?\s*(?:{_MONEY_WORDS}|p)\b", re.IGNORECASE)


def _a_sum_there(phrase: str, text: str) -> bool:
    """Whether the quotes write the phrase's amount as money: "1.7m" (or "£1.7m", the sign the model's own) where
    they say "1.7m people" is a count, not a sum."""
    wanted = digit_numbers(phrase)
    if not wanted:
        return True  # "a million pounds" in words: not this check's to judge
    return any(terms(found.group(0)).numbers & wanted for found in _SUM.finditer(text))


# A reply that is a number alone: "65", "£5m", "31%", "three". Not a year ("2027") or a clock time ("7.30").
_BARE_NUMBER = re.compile(r"[£$€]?\d[\d,.]*(?:%|m|bn|k)?|[a-z]+(?:-[a-z]+)?", re.IGNORECASE)
_CLOCK = re.compile(r"\d{1,2}[.:]\d\d")


def _bare_number(phrase: str) -> bool:
    """Whether the phrase is a number and nothing else, and neither a year nor a time of day."""
    reply = phrase.strip(" .!\"'")
    if not _BARE_NUMBER.fullmatch(reply) or _YEAR.fullmatch(reply) or _CLOCK.fullmatch(reply):
        return False
    return bool(_DIGIT.search(reply)) or bool(_NUMBER_WORD.fullmatch(reply))


_HOW_LONG = re.compile(r"\bhow long\b", re.IGNORECASE)
# What "how long" may be answered in, as stems: time, distance, and what a ban or a lay-off is counted in.
_DURATION = re.compile(
    r"(?:second|sec|minut|min|hour|hr|day|night|week|fortnight|month|year|yr|season|term|decad|centuri|"
    r"metr|meter|m|km|kilometr|mile|feet|foot|yard|inch|cm|game|match|fixtur|round|lap|race|test|innings|"
    r"tournament|sentenc|spell|stint|weekend|half|quarter|period|session)(?:s|es)?"
)
# Words that write an amount rather than say what it counts ("103 million pounds" is "£103m"), as stems.
_SCALE = re.compile(r"(?:thousand|million|billion|trillion|m|bn|k|pound|dollar|euro|penc|cent|per|percent)s?")


def _not_a_duration(phrase: str) -> bool:
    """Whether the first thing the phrase counts is neither time nor distance ("27 caps" for how long a player
    will be out); False when the phrase counts nothing."""
    counting = False
    for word in SPACED_THOUSANDS.sub("", phrase).split():
        for part in re.split(r"(?<=\d)-(?=[A-Za-z])", word):  # "an 18-month loan": the number and its unit
            found = terms(part)
            if found.numbers and (not found.content or _NUMBER_WORD.fullmatch(part.strip(".,;:!?"))):
                counting = not all(_YEAR.fullmatch(n) for n in found.numbers)  # "since the 1997 election"
            elif counting and found.content and not _SCALE.fullmatch(min(found.content)):
                return not _DURATION.fullmatch(min(found.content))
    return False


def speaker(question: str) -> str | None:
    """Whose words the question asks about ("What did Lammy say…" → "Lammy"), if it asks about someone's words."""
    match = SPEECH.match(question)
    return match.group("speaker") if match else None


SPEAKER_SYSTEM = "You read sentences quoted from a news article and name who said the words asked about."
SPEAKER_TOKENS = 10


def speaker_messages(context: str, sentence: str) -> list[BaseMessage]:
    """Messages asking the model who said ``sentence``, given the sentences around it (a few tokens back)."""
    user = (
        f"Sentences: {sanitize_evidence(context)}\n\nWho said: \"{sanitize_evidence(sentence)[:300]}\"? "
        f"Reply with the speaker's name only, as the sentences give it, or {NONE} if they do not say."
    )
    return [SystemMessage(SPEAKER_SYSTEM), HumanMessage(user)]


def _sentences(text: str) -> list[str]:
    flat = " ".join(text.split())
    return [flat[start:end] for start, end in split_sentences(flat)]


def answering_sentence(phrase: str, spans: Sequence[str]) -> tuple[str, str]:
    """The quoted sentence that best contains ``phrase``, and it with up to two sentences before it (its context)."""
    wanted = terms(phrase).content | terms(phrase).numbers
    best: tuple[float, str, str] = (-1.0, "", "")
    for span in spans:
        sentences = _sentences(span)
        for i, sentence in enumerate(sentences):
            got = terms(sentence)
            score = len(wanted & (got.content | got.numbers)) / len(wanted) if wanted else 0.0
            if score > best[0]:
                best = (score, sentence, " ".join(sentences[max(0, i - 2):i + 1]))
    return best[1], best[2]


# Who speaks for a body ("Egypt FA spokesman Methat Shalaby", "the FA's chief executive Mark Palios").
_SPOKESPERSON = (r"(?:'s)?\s+(?:(?:chief|deputy|general|executive|press|senior)\s+)?(?:spokes(?:man|woman|person)|"
                 r"chairman|chairwoman|chair|president|director|secretary|executive|boss|head|leader|manager|"
                 r"coach|captain|official|source|minister)")


def _name_parts(text: str) -> set[str]:
    """The words of a name that identify someone: no titles ("Sir", "Ms"), initials or "the"/"and"/"of"."""
    return {w for w in words(text) if w not in _TITLES and len(w) > 1} - {"the", "and", "of"}


def _lowered(text: str) -> str:
    """Text as the name lookups read it: lower-cased, accents folded (as ``_name_parts`` folds them), one kind
    of apostrophe, single spaces."""
    return " ".join(fold_accents(text).lower().replace("’", "'").split())


def same_person(named: str, asked: str, context: str) -> bool:
    """Whether ``named`` (the model's speaker) can be ``asked`` (the question's): a shared word, both
    parts of one name in the context ("Sir Keir" and "Starmer" in "Sir Keir Starmer"), the body asked about
    introducing its spokesperson ("egypt fa spokesman methat shalaby" speaks for the Egyptian FA) or the
    spokesperson introduced as of it ("mike hobday of the league against cruel sports"), or the role
    the question describes introducing the name ("newcastle chairman freddy shepherd")."""
    a, b = _name_parts(named), _name_parts(asked)
    if not a or not b or a & b:
        return True
    # Consecutive words only: "henin-hardenne and dechy" or "henin-hardenne, dechy" name two people.
    text = _lowered(context)
    if any(re.search(rf"\b{re.escape(x)}\s+{re.escape(y)}\b|\b{re.escape(y)}\s+{re.escape(x)}\b"
                     rf"|\b{re.escape(y)}{_SPOKESPERSON}\s+{re.escape(x)}\b"
                     rf"|\b{re.escape(x)},?\s+(?:of|from)\s+(?:the\s+)?{re.escape(y)}\b", text)
           for x in a for y in b):
        return True
    # The question's description right before the name, when it ends on a role ("the Council of Europe's
    # secretary general": "…secretary general alain berset"; "the Newcastle chairman": "…chairman freddy shepherd").
    role = re.search(r"\b([a-z][\w-]*)\W*$", asked)
    return role is not None and role.group(1) not in _TITLES and any(
        re.search(rf"\b{re.escape(role.group(1))}\s+(?:(?:mr|mrs|ms|dr|sir|lord|lady|dame)\s+)?{re.escape(x)}\b", text)
        for x in a)


def speaker_mismatch(
    question: str, phrase: str, spans: Sequence[str], context: str, ask: Callable[[list[BaseMessage]], str]
) -> str | None:
    """For a question about someone's words: why the copied words are someone else's (None: no mismatch found).

    The model names the speaker of the sentence the phrase was copied from; a different name is a
    mismatch, while a role ("the minister"), a pronoun or NONE is not evidence either way. ``context``
    (the quotes and retrieved passages) is where two parts of one name are looked for.
    """
    asked = speaker(question)
    if asked is None or not _NAMED.search(asked):  # "the world anti-doping boss": a role, no name to compare
        return None
    if not _mentions(context, asked):  # one unknown name among known ones is left to the model (see names());
        return f"the retrieved passages never mention {asked}"  # but a speaker absent from them said none of it
    sentence, around = answering_sentence(phrase, spans)
    if not sentence:
        return None
    relative = _relative_speaking(asked, sentence)
    if relative:
        return f"the best sentences quote {relative}, not {asked}"
    if _unspoken(asked, around):
        return f"the best sentences are no one's words, and do not name {asked}"
    invented = re.search(rf"\b{_SAYS}\b", _lowered(phrase))
    if invented and not _REPORTING.search(around) and not _FIRST_PERSON.search(around):
        return f"the best sentences report no one's words: {invented.group(0)!r} is the language model's own"
    if _mentions(_quote_opener(sentence, around), asked):  # "klinsmann said: … he must be playing regularly."
        return None
    referred = _pronoun_speaker(sentence, around)
    if referred and not _mentions(around, asked) and not same_person(referred, asked, context):
        return f"the best sentences quote {referred}, not {asked}"
    named = " ".join(ask(speaker_messages(around, sentence)).split()).strip(" .\"'")
    if not named or _UNNAMED.match(named) or _ROLE.fullmatch(named) or len(named) > 60:
        return None
    if same_person(named, asked, context) or _spoken_about(named, sentence) or _jointly(asked, sentence):
        return None
    return f"the best sentences quote {named}, not {asked}"


_JOINT = re.compile(r"\b(?:jointly|joint|together|co-wrote|co-written|co-authored|co-signed)\b")
_JOINT_SAYS = r"(?:said|say|says|called|call|wrote|write|warned|argued|added|urged|told|insisted)"


def _jointly(asked: str, sentence: str) -> bool:
    """Whether the sentence gives the words to the asked person together with someone else, so that the model
    names only one of them: "have jointly called…", or the two joined by "and" before the reporting verb ("Sir
    Keir and his Danish counterpart, Mette Frederiksen, said…"; not "X beat Stepanek and said…")."""
    text = _lowered(sentence)
    if not _mentions(text, asked):
        return False
    if _JOINT.search(text):
        return True
    for part in _name_parts(asked):
        name = re.escape(part)
        if re.search(rf"\band\s+(?:[\w'-]+,?\s+){{0,4}}?{name},?\s+(?:[\w'-]+\s+){{0,2}}?{_JOINT_SAYS}\b", text) or \
                re.search(rf"\b{name}\s+and\s+(?:[\w'-]+,?\s+){{0,4}}?[\w'-]+,?\s+(?:[\w'-]+\s+){{0,2}}?{_JOINT_SAYS}\b", text):
            return True
    return False


# Someone whose words are not the person's own though the sentence names the person: "mr begg s father azmat said".
_RELATIVE = (r"(?:'s|\s+s)?\s+(?:father|mother|wife|husband|brother|sister|son|daughter|parents|family|uncle|aunt|"
             r"cousin|girlfriend|boyfriend|partner|widow)\b(?:\s+[\w'-]+){0,3}?\s+(?:said|says|told|added)\b")


def _relative_speaking(asked: str, sentence: str) -> str | None:
    """The relative of the asked person whom the sentence quotes ("begg's father"), if it quotes one."""
    text = _lowered(sentence)
    for part in sorted(_name_parts(asked)):
        found = re.search(rf"\b{re.escape(part)}{_RELATIVE}", text)
        if found:
            return " ".join(found.group(0).split()[:3])
    return None


_FIRST_PERSON = re.compile(r"\b(?:i|i'm|me|my|we|our|us)\b", re.IGNORECASE)
_SAYS = r"(?:said|says|say|added|adds|told|tells|warned|insisted|explained|admitted)"
# Signs that a sentence reports someone's words: a reporting word, a quotation mark, a first person.
_REPORTING = re.compile(
    r"\b(?:said|says|say|saying|told|tells|tell|telling|added|adds|warned|warns|insisted|insists|explained|admitted|"
    r"argued|argues|claimed|claims|stated|states|according|described|describes|called|calls|urged|urges|wrote|"
    r"writes|writing|believes|believed|thinks|thought|accused|accuses|revealed|confirmed|announced|acknowledged|"
    r"stressed|suggested|denied|asked|replied|commented|declared|noted|maintained|feels|felt|hopes|hoped|quoted|"
    r"spoke|speaking|statement|interview)\b|[\"“”]", re.IGNORECASE)


# Words given to "he" or "she" ("but he argued: we mustn't be frightened…"), and someone named with a title.
_PRONOUN_SAYS = re.compile(r"\b(?:he|she)\s+(?:said|says|argued|added|told|warned|insisted|explained|admitted|"
                           r"claimed)\b")
_TITLED = re.compile(r"\b(?:mr|mrs|ms|dr|sir|lord|lady)\s+([a-z][\w'-]+)")


def _pronoun_speaker(sentence: str, around: str) -> str | None:
    """Whom "he said" refers to, when the sentence before it names one titled person and no one else ("mr howard
    acknowledged there were genuine concerns. but he argued: …" → "mr howard"); None otherwise."""
    text, said = _lowered(around), _lowered(sentence).strip()
    if not _PRONOUN_SAYS.search(said) or _TITLED.search(said) or said not in text:
        return None
    before = _sentences(text[: text.index(said)])[-1:]
    found = {m.group(0) for m in _TITLED.finditer(before[0])} if before else set()
    return found.pop() if len(found) == 1 else None


# A quote opened by its speaker and a colon ("klinsmann said: it will be difficult…"), in text without quotation
# marks.
_QUOTE_OPENER = re.compile(rf"\b((?:[a-z][\w'-]*\s+){{0,3}}[a-z][\w'-]*)\s+{_SAYS}\s*:")


def _quote_opener(sentence: str, around: str) -> str:
    """Who opened, with "X said:", the quote the sentence goes on with, when no one else is reported in between
    ("klinsmann said: it will be difficult… if jens is not arsenal's number one keeper that is a problem for me.
    he must be playing regularly." → "…klinsmann"); "" otherwise."""
    text, said = _lowered(around), _lowered(sentence).strip()
    if not said or said not in text:
        return ""
    before = text[: text.rindex(said)]
    openers = list(_QUOTE_OPENER.finditer(before))
    if not openers or _REPORTING.search(before[openers[-1].end():]) or _REPORTING.search(said):
        return ""
    return openers[-1].group(1)


def _mentions(text: str, person: str) -> bool:
    """Whether ``text`` names ``person`` by any part of the name ("Frederiksen" for "Mette Frederiksen")."""
    lowered = _lowered(text)
    return any(re.search(rf"\b{re.escape(part)}\b", lowered) for part in _name_parts(person))


def _unspoken(asked: str, around: str) -> bool:
    """Whether the sentence (with the two before it) is narration that cannot be the asked person's words: it
    neither names them nor reports anyone's words ("The ECHR … includes the right to family life in its
    Article 8" for "What did Kemi Badenoch say about the ECHR?")."""
    return not _mentions(around, asked) and not _REPORTING.search(around) and not _FIRST_PERSON.search(around)


def _spoken_about(named: str, sentence: str) -> bool:
    """Whether the speaker the model named is someone a first-person sentence talks about ("I think this was
    the win of my life as Carlos is one of the best, he said": Carlos is the one beaten, not the one speaking)."""
    text = _lowered(sentence)
    if not _FIRST_PERSON.search(text):
        return False
    return any(re.search(rf"\b{re.escape(w)}\b", text) and not re.search(
        rf"\b{re.escape(w)}(?:'s)?\s+{_SAYS}\b|\b{_SAYS}\s+(?:\w+\s+)?{re.escape(w)}\b", text) for w in _name_parts(named))
