"""One article file -> a cleaned :class:`~rag.types.Article`.

Decode the bytes, turn HTML or Markdown into plain paragraphs, remove page
furniture and fill in the metadata. The same bytes always give the same Article.
"""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

from rag.errors import CorpusError
from rag.ingest.chunking import split_sentences
from rag.ingest.cleaning import clean_article_text
from rag.ingest.decode import decode_bytes
from rag.ingest.extracted import Extracted, iso_date
from rag.ingest.html import html_to_text, looks_like_html
from rag.ingest.markdown import markdown_to_text
from rag.ingest.scan import LINK_REFUSED, MAX_FILE_BYTES, SourceFile, TooLargeError, article_id_for, read_article_bytes
from rag.types import Article

_HTML_SUFFIXES = (".html", ".htm")
_MARKDOWN_SUFFIXES = (".md", ".markdown")
TITLE_MAX_CHARS = 90


def load_article(file: SourceFile, max_file_bytes: int = MAX_FILE_BYTES) -> Article:
    """Read, decode, extract and clean one file; raises :class:`CorpusError` naming the file.

    The file is read as the scan found it: never through a symbolic link, and no
    more than ``max_file_bytes`` (or the size the scan saw, when larger).
    """
    try:
        data = read_article_bytes(file.path, max(file.size, max_file_bytes))
    except TooLargeError as exc:
        raise CorpusError(f"{file.source}: {exc}") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CorpusError(f"{file.source}: {LINK_REFUSED}") from exc
        raise CorpusError(f"{file.source}: cannot read file ({exc.strerror or exc})") from exc
    text = decode_bytes(data, file.source)
    if not text.strip():
        raise CorpusError(f"{file.source}: empty file")

    suffix = Path(file.source).suffix.lower()
    if suffix in _HTML_SUFFIXES or looks_like_html(text):
        extracted = html_to_text(text)
    elif suffix in _MARKDOWN_SUFFIXES:
        extracted = markdown_to_text(text)
    else:
        extracted = Extracted(text=text)

    cleaned = clean_article_text(extracted.text)
    if not cleaned.text:
        raise CorpusError(f"{file.source}: no article text left after removing markup and page furniture")
    title = _one_line(extracted.title) or _one_line(cleaned.title) or fallback_title(cleaned.text)
    return Article(
        id=article_id_for(file.source),
        source=file.source,
        title=_strip_site_suffix(title, extracted.publisher),
        publisher=_one_line(extracted.publisher) or cleaned.publisher,
        date=iso_date(extracted.date) or cleaned.date,
        url=_one_line(extracted.url),
        text=cleaned.text,
        content_hash=hashlib.sha256(data).hexdigest(),
    )


def fallback_title(text: str) -> str:
    """The first sentence of the text, cut at a word boundary to about 90 characters."""
    first_line = text.split("\n", 1)[0]
    spans = split_sentences(first_line[: 4 * TITLE_MAX_CHARS])  # the title needs only the start
    sentence = first_line[spans[0][0] : spans[0][1]] if spans else first_line
    if len(sentence) <= TITLE_MAX_CHARS:
        return sentence
    cut = sentence.rfind(" ", 0, TITLE_MAX_CHARS)
    return sentence[: cut if cut > 0 else TITLE_MAX_CHARS - 1].rstrip(" ,;:-–—") + "…"


def _one_line(value: str | None) -> str | None:
    """``value`` on one line with single spaces; None when missing or blank."""
    if not value:
        return None
    return " ".join(value.split()) or None


def _strip_site_suffix(title: str, publisher: str | None) -> str:
    """ "PM issues warning | Sky News" -> "PM issues warning" when the publisher is known."""
    if publisher:
        for separator in (" | ", " - ", " – ", " — "):
            suffix = separator + " ".join(publisher.split())
            if title.endswith(suffix) and len(title) > len(suffix):
                return title[: -len(suffix)]
    return title
