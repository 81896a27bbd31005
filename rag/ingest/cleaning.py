"""Text normalisation and removal of page furniture from scraped articles.

Pure functions, no I/O. :func:`clean_article_text` returns one paragraph per
block, paragraphs separated by exactly one blank line (``"\\n\\n"``) and no
other newline, so every ``"\\n"`` in cleaned text is a paragraph boundary.

The furniture rules are deliberately conservative; they act on whole
paragraphs (lines), never inside one:

* separator lines ("-", "—", "***", "___", "•") are dropped;
* copyright trailers ("(c) Sky News 2025: Title", "© 2025 Publisher",
  "Copyright 2025 …") are dropped, and their publisher, year and title kept;
* "Read more…" lines are dropped with the headline-like lines right after them;
* a paragraph repeated verbatim keeps its first occurrence, unless it is
  headline-like, in which case every occurrence goes (teaser lists repeat);
* a trailing block of headline-like lines (and short questions among them) is
  dropped, as is any run of three or more headline-like lines, except a short
  header (title, byline, date) at the very top.

"Headline-like" means at most 25 words and no sentence-final punctuation at the
end. A single such line between paragraphs is a subheading and is kept, and the
last two rules only apply when the text has at least one real paragraph.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise

log = logging.getLogger(__name__)

HEADLINE_MAX_WORDS = 25
# A header block at the top (title, standfirst, byline, date) is not a teaser list.
_HEADER_MAX_LINES = 4
_RUN_MIN_LINES = 3
# Hard-wrapped text (e-mails, plain-text archives) has lines no longer than this.
_WRAP_MAX_WIDTH = 160

_CLOSERS = re.escape("\"'”’»)]")
_SENTENCE_END = re.compile(rf"(?:[.!:;…]|\.\.\.)[{_CLOSERS}]*$")
_QUESTION_END = re.compile(rf"\?[{_CLOSERS}]*$")
_SEPARATOR_CHARS = "-\u2010-\u2015\u2212*_=~#+|/\\\\.•·◦▪●■□◆◇★☆"  # hyphens, dashes, rules, bullets
_SEPARATOR = re.compile(rf"^[{_SEPARATOR_CHARS}]+(?: +[{_SEPARATOR_CHARS}]+)*$")
_LIST_ITEM = re.compile(r"^(?:[•·▪◦‣*+-]|\d{1,3}[.)])\s+\S")
_READ_MORE = re.compile(
    r"^(?:read more|read also|also read|read next|see also|more on this story|more from\b|"
    r"related(?: articles?| stories| content| coverage| topics| links| reading)?\s*:)",
    re.IGNORECASE,
)

# Copyright trailers. The plain word "copyright" needs a year or a ©/(c) right
# after it, so "Copyright holders sued…" stays.
_YEAR = r"(?:19|20)\d{2}(?:\s*[-–]\s*(?:19|20)\d{2})?"
_TRAILER_MARK = re.compile(
    r"^(?:(?:©|\(c\))\s*copyright\b|copyright\s*(?:©|\(c\))|copyright(?=\s+(?:19|20)\d{2}\b)|©|\(c\))\s*", re.IGNORECASE
)
_TRAILER_YEAR_FIRST = re.compile(rf"^(?P<year>{_YEAR})\b[\s,]*(?P<pub>[^.:|]*?)\s*(?:(?P<sep>[.:|])\s*(?P<tail>.*))?$")
_TRAILER_PUB_FIRST = re.compile(
    rf"^(?P<pub>[^\d:|]{{1,80}}?)[\s,]+(?P<year>{_YEAR})\b\s*(?:(?P<sep>[.:|])\s*(?P<tail>.*))?$"
)
_TRAILER_PUB_ONLY = re.compile(r"^(?P<pub>[^\d:|.]{1,60}?)\.?\s*(?:[Aa]ll [Rr]ights [Rr]eserved\.?)?$")
_PUBLISHER_MAX_WORDS = 10
_ALL_RIGHTS = re.compile(r"^all rights reserved\b", re.IGNORECASE)

_SPACES = re.compile(r" {2,}")
_LINE_EDGES = re.compile(r" *\n *")
_BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class CleanedText:
    """Cleaned text plus what a copyright trailer said about the article."""

    text: str
    title: str | None = None
    publisher: str | None = None
    date: str | None = None
    removed: list[str] = field(default_factory=list)


@cache
def _char_table() -> dict[int, str | None]:
    """translate() table: invisible and control characters go, odd spaces become ' '.

    Built once, on first use, by scanning the planes that hold such characters (~20 ms).
    """
    table: dict[int, str | None] = {}
    ranges = (range(0x10000), range(0x1D000, 0x1D200), range(0xE0000, 0xE0080))
    for codepoints in ranges:
        for cp in codepoints:
            category = unicodedata.category(chr(cp))
            if category in ("Cc", "Cf"):
                table[cp] = None
            elif category == "Zs":
                table[cp] = " "
    for ch in "\t\x0b\x0c":
        table[ord(ch)] = " "
    for ch in "\n\x85\u2028\u2029":
        table[ord(ch)] = "\n"
    return table


def normalize_text(text: str) -> str:
    """NFC, no control/zero-width characters, single spaces, trimmed lines, at most one blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_char_table())
    # NFC after removing invisibles, which can separate a letter from its accent.
    text = unicodedata.normalize("NFC", text)
    text = _SPACES.sub(" ", text)
    text = _LINE_EDGES.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


def is_headline_like(line: str) -> bool:
    """Short and without sentence-final punctuation: a headline, label or subheading."""
    return (
        bool(line)
        and len(line.split()) <= HEADLINE_MAX_WORDS
        and not (_SENTENCE_END.search(line) or _QUESTION_END.search(line))
    )


def _is_short_question(line: str) -> bool:
    return len(line.split()) <= HEADLINE_MAX_WORDS and bool(_QUESTION_END.search(line))


def _is_separator(line: str) -> bool:
    return len(line) <= 80 and bool(_SEPARATOR.match(line))


def _is_list_item(line: str) -> bool:
    return bool(_LIST_ITEM.match(line))


def _is_read_more(line: str) -> bool:
    """A "Read more" / "Related:" link line, not prose that starts with those words."""
    marker = _READ_MORE.match(line)
    if marker is None or len(line.split()) > HEADLINE_MAX_WORDS:
        return False
    after_marker = line[marker.end() :].lstrip()
    return after_marker.startswith((":", "»", ">", "|")) or line.endswith(":") or is_headline_like(line)


@dataclass(frozen=True)
class _Trailer:
    publisher: str | None
    date: str | None
    title: str | None


def parse_trailer(line: str) -> _Trailer | None:
    """Publisher, year and title of a copyright line, or None if it is not one."""
    mark = _TRAILER_MARK.match(line)
    if not mark or len(line.split()) > HEADLINE_MAX_WORDS:
        return None
    rest = line[mark.end() :].strip()
    found = _TRAILER_YEAR_FIRST.match(rest) or _TRAILER_PUB_FIRST.match(rest)
    if found is None:
        # No year: only "© Publisher" (the plain word "copyright" always needs a year).
        found = _TRAILER_PUB_ONLY.match(rest)
        if found is None or not _plausible_publisher(found.group("pub")):
            return None
        return _Trailer(publisher=_clean_publisher(found.group("pub")), date=None, title=None)
    if not _plausible_publisher(found.group("pub")):
        return None
    tail = (found.group("tail") or "").strip()
    is_title = found.group("sep") in (":", "|") and bool(tail) and not _ALL_RIGHTS.match(tail)
    if tail and not is_title and not _ALL_RIGHTS.match(tail):
        return None  # "(c) Agency 2024. Figures show…" is prose, not a trailer
    year = re.findall(r"(?:19|20)\d{2}", found.group("year"))[-1]
    return _Trailer(
        publisher=_clean_publisher(found.group("pub")), date=year, title=tail.rstrip(" .") if is_title else None
    )


def _plausible_publisher(raw: str | None) -> bool:
    """Empty or a short capitalised name: "(c) the minister must…" is an enumerated clause."""
    name = (raw or "").strip()
    return not name or ((name[0].isupper() or name[0].isdigit()) and len(name.split()) <= _PUBLISHER_MAX_WORDS)


def _clean_publisher(raw: str | None) -> str | None:
    publisher = _ALL_RIGHTS.sub("", (raw or "").strip()).strip(" ,.-–|")
    return publisher or None


def _ends_sentence(line: str) -> bool:
    return bool(_SENTENCE_END.search(line) or _QUESTION_END.search(line))


def _is_hard_wrapped(lines: list[str]) -> bool:
    """Lines of one block that are a paragraph wrapped at a fixed width.

    Wrapped prose mostly breaks mid-sentence before a lowercase word; one
    paragraph (or headline) per line ends in punctuation or a capitalised word.
    """
    if len(lines) < 2 or max(map(len, lines)) > _WRAP_MAX_WIDTH or any(map(_is_list_item, lines)):
        return False
    soft = sum(not _ends_sentence(a) and b[:1].islower() for a, b in pairwise(lines))
    return soft >= 0.4 * (len(lines) - 1)


def _unwrap(lines: list[str]) -> str:
    joined = lines[0]
    for line in lines[1:]:
        hyphenated = len(joined) > 1 and joined.endswith("-") and joined[-2].isalpha() and line[:1].islower()
        joined += line if hyphenated else " " + line
    return joined


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of normalised text: one per line, except hard-wrapped blocks, which are joined."""
    paragraphs: list[str] = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line]
        if _is_hard_wrapped(lines):
            paragraphs.append(_unwrap(lines))
        else:
            paragraphs.extend(lines)
    return paragraphs


def _is_body(line: str) -> bool:
    """A real paragraph: long, or ending like a sentence (short questions aside)."""
    return not is_headline_like(line) and not _is_short_question(line)


def clean_article_text(text: str) -> CleanedText:
    """Normalise ``text`` and drop page furniture; see the module docstring for the rules."""
    paragraphs = split_paragraphs(normalize_text(text))
    dropped: set[int] = set()
    trailer: _Trailer | None = None

    for i, line in enumerate(paragraphs):
        if _is_separator(line):
            dropped.add(i)
        elif (found := parse_trailer(line)) is not None:
            dropped.add(i)
            trailer = trailer or found

    kept = [i for i in range(len(paragraphs)) if i not in dropped]
    dropped |= _read_more_lines(paragraphs, kept)
    kept = [i for i in kept if i not in dropped]
    has_body = any(_is_body(paragraphs[i]) for i in kept)
    dropped |= _repeated_lines(paragraphs, kept, drop_all_headlines=has_body)
    kept = [i for i in kept if i not in dropped]
    if has_body:
        dropped |= _trailing_block(paragraphs, kept)
        kept = [i for i in kept if i not in dropped]
        dropped |= _headline_runs(paragraphs, kept)
        kept = [i for i in kept if i not in dropped]

    removed = [paragraphs[i] for i in sorted(dropped)]
    if removed:
        log.debug("cleaning dropped %d of %d lines", len(removed), len(paragraphs))
    return CleanedText(
        text="\n\n".join(paragraphs[i] for i in kept),
        title=trailer.title if trailer else None,
        publisher=trailer.publisher if trailer else None,
        date=trailer.date if trailer else None,
        removed=removed,
    )


def _read_more_lines(paragraphs: list[str], kept: list[int]) -> set[int]:
    """ "Read more" lines and the run of headline-like lines (teaser links) after each."""
    dropped: set[int] = set()
    in_run = False
    for i in kept:
        line = paragraphs[i]
        if _is_read_more(line):
            dropped.add(i)
            in_run = True
        elif in_run and (is_headline_like(line) or (_is_list_item(line) and len(line.split()) <= HEADLINE_MAX_WORDS)):
            dropped.add(i)
        else:
            in_run = False
    return dropped


def _repeated_lines(paragraphs: list[str], kept: list[int], drop_all_headlines: bool) -> set[int]:
    counts: dict[str, int] = {}
    for i in kept:
        counts[paragraphs[i]] = counts.get(paragraphs[i], 0) + 1
    dropped: set[int] = set()
    seen: set[str] = set()
    for i in kept:
        line = paragraphs[i]
        if counts[line] > 1 and ((drop_all_headlines and is_headline_like(line)) or line in seen):
            dropped.add(i)
        seen.add(line)
    return dropped


def _trailing_block(paragraphs: list[str], kept: list[int]) -> set[int]:
    """Headline-like lines (with short questions among them) after the last real paragraph."""
    block: list[int] = []
    for i in reversed(kept):
        line = paragraphs[i]
        if not (is_headline_like(line) or _is_short_question(line)):
            break
        block.append(i)
    if any(is_headline_like(paragraphs[i]) for i in block):
        return set(block)
    return set()  # only questions: the article may well end on one


def _headline_runs(paragraphs: list[str], kept: list[int]) -> set[int]:
    """Runs of 3+ consecutive headline-like lines; list items are content and break runs."""
    dropped: set[int] = set()
    run: list[int] = []
    for position, i in enumerate([*kept, -1]):
        if i >= 0 and is_headline_like(paragraphs[i]) and not _is_list_item(paragraphs[i]):
            run.append(position)
            continue
        is_header = bool(run) and run[0] == 0 and len(run) <= _HEADER_MAX_LINES
        if len(run) >= _RUN_MIN_LINES and not is_header:
            dropped.update(kept[p] for p in run)
        run = []
    return dropped
