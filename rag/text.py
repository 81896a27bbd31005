"""Text helpers every stage shares: citation markers, sanitising, words, names and terms.

Pure functions, no model. One definition each, so the answer step, the app and
the eval read a marker, a name or a content word the same way.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import Stemmer

# --- citation markers ---------------------------------------------------------

# "[1]", "[1, 2]", "[1-3]": one marker and the numbers it cites (group 1).
MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;\-–]\s*\d+)*)\s*\]")
# Markers at the very start of a piece of text ("[1][2] The ...").
LEADING_MARKERS = re.compile(r"^(?:\s*" + MARKER.pattern + r")+")
_MAX_RANGE = 20  # "[1-9999]" cites at most 21 numbers


def marker_numbers(group: str) -> list[int]:
    """The numbers one marker cites: "1, 2" -> [1, 2]; "2-4" -> [2, 3, 4]."""
    out: list[int] = []
    for part in re.split(r"\s*[,;]\s*", group):
        bounds = re.split(r"\s*[-–]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            lo, hi = int(bounds[0]), int(bounds[1])
            out.extend(range(lo, min(hi, lo + _MAX_RANGE) + 1))
        elif part.strip().isdigit():
            out.append(int(part))
    return out


def strip_markers(text: str) -> str:
    """Text without its markers (and the space before each), spaces collapsed."""
    return " ".join(re.sub(r"\s*" + MARKER.pattern, "", text).split())


def plain_answer(text: str) -> str:
    """An answer as a reader sees it without citations: no markers, no space left before punctuation."""
    return re.sub(r"\s+([.,;:!?])", r"\1", strip_markers(text))


# --- sanitising ---------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_surrogates(text: str) -> str:
    """Lone surrogates (invalid unicode a browser or a file can carry) as U+FFFD: they break JSON and encoders."""
    return _SURROGATE.sub("\ufffd", text)


# Characters that change what a terminal shows: controls (newline, carriage return, escape sequences) and the
# bidirectional overrides and isolates that reorder a line ("gpj.exe" shown as "exe.jpg").
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """Text for one line of terminal output: such characters shown as escapes (``\\n``, ``\\u202e``)."""
    return _UNPRINTABLE.sub(lambda found: found.group(0).encode("unicode_escape").decode("ascii"), text)


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short line for the user: its message's first line (at most ``limit`` characters),
    or its type."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


# --- words, names and terms -----------------------------------------------------------

# Common English function words; content words are everything else.
_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having he
    her here hers herself him himself his how i if in into is it its itself just me more most my myself of off on
    once only or other our ours ourselves out over own same she should so some such than that the their theirs
    them themselves then there these they this those through to too under until up very was we were what when
    where which while who whom why will with would you your yours yourself yourselves said says say told according
    mr mrs ms sir""".split()
)
_NEGATIONS = frozenset({"not", "no", "never", "nor", "none", "nothing", "neither", "cannot", "without"})
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d[\d,.]*\d|\d")
# "22 000" (thousands written with a space, as the BBC corpus and some others store them) reads as 22000.
SPACED_THOUSANDS = re.compile(r"(?<=\d) (?=\d{3}\b)")
_NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20", "thirty": "30", "forty": "40",
    "fifty": "50", "hundred": "100",
}


# Letters that Unicode does not decompose into a plain letter and an accent.
_UNACCENTED = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ß": "ss", "ł": "l",
                             "Ł": "L", "đ": "d", "Đ": "D", "ı": "i"})


def fold_accents(text: str) -> str:
    """Text without accents ("Arsène Müller" -> "Arsene Muller"), so that a name typed with them matches
    articles written without them, and the other way round; ASCII text is returned as it is."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNACCENTED))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=1)
def stemmer() -> Stemmer.Stemmer:
    """The English Snowball stemmer that BM25 and support scoring share."""
    return Stemmer.Stemmer("english")


_NAME = re.compile(r"\b[A-Z][A-Za-z'’-]*[A-Za-z]")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")


def names(text: str) -> frozenset[str]:
    """Capitalised words other than a sentence's first: the people, places and bodies a text names."""
    found = set()
    for sentence in _SENTENCE_BREAK.split(fold_accents(text).strip()):
        for match in list(_NAME.finditer(sentence))[1:] if sentence[:1].isupper() else _NAME.finditer(sentence):
            word = match.group(0).lower().replace("’", "'").removesuffix("'s")
            if word not in _STOPWORDS and len(word) > 1:
                found.add(word)
    return frozenset(found)


def is_stopword(word: str) -> bool:
    """Whether a lower-cased word is a common function word ("the", "in", "after") rather than a content word."""
    return word in _STOPWORDS


def words(text: str) -> frozenset[str]:
    """Every word of text, lower-cased, possessives stripped: what names are looked up in."""
    return frozenset(w.lower().replace("’", "'").removesuffix("'s") for w in _WORD.findall(fold_accents(text)))


def _abbreviates(short: str, full: str) -> bool:
    """``short`` is ``full`` or its clipped form: "lib" for "liberal", "dems" for "democrats", "utd" not."""
    stem = short.removesuffix("s") if len(short) > 3 else short
    return short == full or (len(stem) >= 3 and full.startswith(stem))


def _clipped(one: str, other: str) -> bool:
    return _abbreviates(one, other) or _abbreviates(other, one)


@lru_cache(maxsize=256)
def _name_pairs(question: str) -> tuple[tuple[str, str], ...]:
    """Two capitalised words side by side in one sentence of the question, lower-cased (read once per question,
    not once per passage it is compared with)."""
    return tuple(
        (a.group(0).lower(), b.group(0).lower())
        for sentence in _SENTENCE_BREAK.split(fold_accents(question).strip())
        for a, b in pairwise(_NAME.finditer(sentence))
        if not sentence[a.end():b.start()].strip()
    )


def abbreviated_names(question: str, text: str) -> frozenset[str]:
    """The question's two-word names that text gives clipped or in full ("Liberal Democrats" as "lib dems",
    "Lib Dems" as "liberal democrats"), as the question's words.

    Both words must be clipped or equal, in order, so one shared prefix ("man" for "manchester") is not enough.
    """
    pairs = _name_pairs(question)
    if not pairs:
        return frozenset()
    seen = [w.lower() for w in _WORD.findall(fold_accents(text))]
    found: set[str] = set()
    for first, second in pairs:
        for x, y in pairwise(seen):
            if (x, y) != (first, second) and _clipped(x, first) and _clipped(y, second):
                found.update((first, second))
                break
    return frozenset(found)


# A country and the words for its people, either of which names it: "Denmark's prime minister" is "his Danish
# counterpart". The countries the news most often names, one word each (names() reads single words); not "US",
# which the pronoun "us" would find everywhere.
_NATIONS = (
    "britain british briton britons", "uk british", "england english", "scotland scottish scots scot",
    "wales welsh", "ireland irish", "france french", "germany german germans", "spain spanish spaniard",
    "italy italian italians", "denmark danish dane danes", "sweden swedish swede swedes", "norway norwegian",
    "finland finnish finn", "netherlands dutch", "holland dutch", "belgium belgian", "switzerland swiss",
    "austria austrian", "portugal portuguese", "greece greek greeks", "poland polish pole poles",
    "russia russian russians", "ukraine ukrainian", "turkey turkish turk turks", "china chinese",
    "japan japanese", "india indian indians", "pakistan pakistani", "america american americans",
    "usa american americans", "canada canadian", "australia australian australians",
    "argentina argentine argentinian", "brazil brazilian", "mexico mexican", "egypt egyptian", "israel israeli",
    "iraq iraqi iraqis", "iran iranian", "afghanistan afghan afghans", "albania albanian albanians",
    "nigeria nigerian", "kenya kenyan", "zimbabwe zimbabwean", "croatia croatian",
    "serbia serbian serb serbs", "hungary hungarian", "romania romanian", "bulgaria bulgarian",
    "europe european europeans",
)


def _same_nation() -> dict[str, frozenset[str]]:
    """Each word of _NATIONS, and every word that names the same country ("dutch": netherlands, holland)."""
    found: dict[str, frozenset[str]] = {}
    for line in _NATIONS:
        group = frozenset(line.split())
        for word in group:
            found[word] = found.get(word, frozenset()) | group
    return found


_NATION_WORDS = _same_nation()


def missing_names(text: str, context: str) -> frozenset[str]:
    """Names in text that context never mentions (a swapped speaker, an invented person). A country is
    mentioned by the word for its people and the other way round ("Denmark" by "Danish"), and a name written
    in capitals by the words it abbreviates ("SNP" by "the scottish national party")."""
    known = words(context)
    missing = {name for name in names(text) - known if not _NATION_WORDS.get(name, frozenset()) & known}
    acronyms = {found.lower() for found in _ACRONYM.findall(fold_accents(text))} & missing
    return frozenset(missing - {name for name in acronyms if _spelled_out(name, context)})


_ACRONYM = re.compile(r"\b[A-Z]{2,6}\b")
_SPELLING_FILLERS = frozenset({"of", "and", "the", "for", "&"})


def _spelled_out(acronym: str, context: str) -> bool:
    """Whether consecutive words of context begin with the acronym's letters in turn ("snp": "scottish national
    party"; "of", "and", "the" and "for" may come between, as in "football association of wales")."""
    tokens = re.findall(r"[a-z][a-z'-]*|&", fold_accents(context).lower())
    for start in range(len(tokens)):
        at, matched = start, 0
        while at < len(tokens) and matched < len(acronym):
            if tokens[at][0] == acronym[matched]:
                matched += 1
            elif not (matched and tokens[at] in _SPELLING_FILLERS):
                break
            at += 1
        if matched == len(acronym):
            return True
    return False


@dataclass(frozen=True)
class Terms:
    """The parts of a text that support scoring compares."""

    content: frozenset[str]
    numbers: frozenset[str]
    negated: bool


@lru_cache(maxsize=4096)
def terms(text: str) -> Terms:
    """Content-word stems, numbers (digits, and number words as digits) and whether the text negates."""
    words = [w.lower().replace("’", "'") for w in _WORD.findall(SPACED_THOUSANDS.sub("", fold_accents(text)))]
    numbers = {w.replace(",", "").rstrip(".") for w in words if w[0].isdigit()}
    numbers |= {_NUMBER_WORDS[w] for w in words if w in _NUMBER_WORDS}
    negated = any(w in _NEGATIONS or w.endswith("n't") for w in words)
    content = {w.removesuffix("'s") for w in words if not w[0].isdigit() and w not in _STOPWORDS and len(w) > 1}
    content -= _NEGATIONS
    stems = frozenset(stemmer().stemWords(sorted(content)))
    return Terms(stems, frozenset(numbers), negated)
