"""Files in the corpus folder -> cleaned :class:`~rag.types.Article`\\ s.

:func:`scan_corpus` lists the usable files (and says why others are skipped);
:func:`load_article` decodes one file, turns HTML or Markdown into plain
paragraphs, removes page furniture and fills in the metadata. The same bytes
always give the same Article.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from charset_normalizer import from_bytes

from rag.errors import CorpusError
from rag.ingest.chunking import split_sentences
from rag.ingest.cleaning import clean_article_text
from rag.types import Article

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
_HTML_SUFFIXES = (".html", ".htm")
_MARKDOWN_SUFFIXES = (".md", ".markdown")
TITLE_MAX_CHARS = 90


@dataclass(frozen=True)
class SourceFile:
    """A candidate article file found by :func:`scan_corpus`."""

    path: Path
    source: str  # path relative to the corpus folder, with forward slashes
    size: int
    content_hash: str  # sha256 hex of the raw bytes


@dataclass(frozen=True)
class FileProblem:
    """A file that was skipped, and why (one line, for the user)."""

    source: str
    reason: str


@dataclass(frozen=True)
class _Extracted:
    """Plain text of a document plus the metadata its markup carried."""

    text: str
    title: str | None = None
    publisher: str | None = None
    date: str | None = None
    url: str | None = None


# --- scanning ---------------------------------------------------------------


def scan_corpus(corpus_dir: Path, max_file_bytes: int) -> tuple[list[SourceFile], list[FileProblem]]:
    """Supported files under ``corpus_dir`` (recursive, sorted by relative path) and the skipped ones.

    Hidden files and folders and other suffixes are ignored silently; files over
    ``max_file_bytes`` or that cannot be read are reported as problems.
    """
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(f"Corpus folder not found: {corpus_dir} (set RAG_CORPUS_DIR or pass --corpus)")
    files: list[SourceFile] = []
    problems: list[FileProblem] = []
    for path, source in sorted(_walk(corpus_dir), key=lambda item: item[1]):
        found = _inspect(path, source, max_file_bytes)
        (files if isinstance(found, SourceFile) else problems).append(found)  # type: ignore[arg-type]
    log.info("scanned %s: %d files, %d skipped", corpus_dir, len(files), len(problems))
    return files, problems


def _walk(root: Path) -> list[tuple[Path, str]]:
    """(path, posix relative path) of supported, non-hidden files; symlinked folders are not followed."""
    found: list[tuple[Path, str]] = []
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc.strerror or exc)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relative = f"{prefix}{entry.name}"
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((Path(entry.path), f"{relative}/"))
                elif entry.name.lower().endswith(SUPPORTED_SUFFIXES) and entry.is_file():
                    found.append((Path(entry.path), relative))
            except OSError:
                continue  # vanished or a broken symlink
    return found


def _inspect(path: Path, source: str, max_file_bytes: int) -> SourceFile | FileProblem:
    try:
        size = path.stat().st_size
        if size > max_file_bytes:
            return FileProblem(
                source,
                f"too large: {_human_size(size)} > limit {_human_size(max_file_bytes)}; "
                "raise RAG_MAX_FILE_BYTES to include it",
            )
        data = path.read_bytes()
    except FileNotFoundError:
        return FileProblem(source, "vanished while the corpus was being scanned")
    except OSError as exc:
        return FileProblem(source, f"cannot read: {exc.strerror or exc}")
    return SourceFile(path=path, source=source, size=len(data), content_hash=hashlib.sha256(data).hexdigest())


def _human_size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def article_id_for(source: str) -> str:
    """Stable 16-hex-digit id of an article, from its posix path relative to the corpus folder."""
    return hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()[:16]


# --- loading ----------------------------------------------------------------


def load_article(file: SourceFile) -> Article:
    """Read, decode, extract and clean one file; raises :class:`CorpusError` naming the file."""
    try:
        data = file.path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{file.source}: cannot read file ({exc.strerror or exc})") from exc
    text = decode_bytes(data, file.source)
    if not text.strip():
        raise CorpusError(f"{file.source}: empty file")

    suffix = Path(file.source).suffix.lower()
    if suffix in _HTML_SUFFIXES or _looks_like_html(text):
        extracted = html_to_text(text)
    elif suffix in _MARKDOWN_SUFFIXES:
        extracted = markdown_to_text(text)
    else:
        extracted = _Extracted(text=text)

    cleaned = clean_article_text(extracted.text)
    if not cleaned.text:
        raise CorpusError(f"{file.source}: no article text left after removing markup and page furniture")
    title = _one_line(extracted.title) or _one_line(cleaned.title) or fallback_title(cleaned.text)
    return Article(
        id=article_id_for(file.source),
        source=file.source,
        title=_strip_site_suffix(title, extracted.publisher),
        publisher=_one_line(extracted.publisher) or cleaned.publisher,
        date=_iso_date(extracted.date) or cleaned.date,
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


# --- decoding ---------------------------------------------------------------

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")
_SAMPLE = 65536
# Western 8-bit text is mostly ASCII letters; Cyrillic or Greek read as cp1252 is not.
_MAX_NON_ASCII_LETTERS = 0.3


def decode_bytes(data: bytes, source: str) -> str:
    """Text of ``data``: BOM, then strict UTF-8, then cp1252 for Western text, then charset_normalizer.

    charset_normalizer alone misreads short cp1252/latin-1 texts (as cp1250 or
    cp932), hence the cp1252 check before it. Raises CorpusError for binary data.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = data.decode(encoding, errors="replace")
            if _mostly_unprintable(text):
                raise CorpusError(f"{source}: looks like a binary file, not text")
            return text
    sample = data[:_SAMPLE]
    if b"\x00" in data or len(_CONTROL_BYTES.findall(sample)) > 0.01 * len(sample):
        raise CorpusError(f"{source}: looks like a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    western = _decode_western(data)
    if western is not None:
        return western
    best = from_bytes(data).best()
    if best is None or _mostly_unprintable(str(best)):
        raise CorpusError(f"{source}: looks like a binary file, not text")
    log.debug("%s: decoded as %s", source, best.encoding)
    return str(best)


def _decode_western(data: bytes) -> str | None:
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None  # bytes cp1252 leaves undefined: some other code page
    letters = [c for c in text[:_SAMPLE] if c.isalpha()]
    non_ascii = sum(not c.isascii() for c in letters)
    return text if letters and non_ascii <= _MAX_NON_ASCII_LETTERS * len(letters) else None


def _mostly_unprintable(text: str) -> bool:
    sample = text[:_SAMPLE]
    bad = sum(1 for c in sample if c == "\ufffd" or (unicodedata.category(c) == "Cc" and c not in "\t\n\r\f\v"))
    return bad > 0.1 * max(len(sample), 1)


# --- HTML -------------------------------------------------------------------

_HTML_START = re.compile(
    r"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])", re.IGNORECASE | re.DOTALL
)
_DROPPED_TAGS = ("script", "style", "noscript", "nav", "footer", "aside", "form", "template", "head", "svg", "iframe")
_BLOCK_TAGS = frozenset(
    "address article blockquote br dd details div dl dt figcaption figure h1 h2 h3 h4 h5 h6 header hr li main "
    "ol p pre section summary table td th tr ul".split()
)
# The main <article> must hold this share of the page's text to be used alone.
_ARTICLE_SHARE = 0.4


def _looks_like_html(text: str) -> bool:
    return bool(_HTML_START.match(text[:4096]))


def html_to_text(html: str) -> _Extracted:
    """Paragraphs of an HTML page (one per block element) and its metadata."""
    soup = BeautifulSoup(html, "lxml")
    meta = _html_metadata(soup)
    for tag in soup.find_all(_DROPPED_TAGS):
        tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    body = soup.body or soup
    root = _main_content(body)
    return _Extracted(text="\n\n".join(_blocks(root)), **meta)


def _main_content(body: Tag) -> Tag:
    """The largest <article> if it holds most of the page text, else <main>, else the body."""
    total = len(body.get_text(" ", strip=True))
    articles = body.find_all("article")
    if articles:
        largest = max(articles, key=lambda tag: len(tag.get_text(" ", strip=True)))
        if len(largest.get_text(" ", strip=True)) >= _ARTICLE_SHARE * total:
            return largest
    main = body.find("main")
    return main if isinstance(main, Tag) else body


def _blocks(root: Tag) -> list[str]:
    """Text of each block element, inline markup flattened; iterative, so deep nesting is fine."""
    blocks: list[str] = []
    buffer: list[str] = []
    prefix = ""

    def flush() -> None:
        nonlocal prefix
        text = " ".join("".join(buffer).split())
        if text:
            blocks.append(prefix + text)
            prefix = ""
        buffer.clear()

    stack: list[object] = [root]
    while stack:
        node = stack.pop()
        if node is None:  # end of a block element
            flush()
        elif isinstance(node, NavigableString):
            if type(node) is NavigableString:  # not a CData/doctype/processing instruction
                buffer.append(str(node))
        elif isinstance(node, Tag):
            if node.name in _BLOCK_TAGS:
                flush()
                if node.name == "li":  # a bullet keeps list items from reading as a teaser list
                    prefix = "• "
                stack.append(None)
            stack.extend(reversed(node.contents))
    flush()
    return blocks


def _html_metadata(soup: BeautifulSoup) -> dict[str, str | None]:
    def meta(*names: str) -> str | None:
        for name in names:
            tag = soup.find("meta", attrs={"property": name}) or soup.find("meta", attrs={"name": name})
            tag = tag or soup.find("meta", attrs={"itemprop": name})
            content = tag.get("content") if isinstance(tag, Tag) else None
            if isinstance(content, str) and content.strip():
                return content.strip()
        return None

    title_tag = soup.find("title")
    title = meta("og:title", "twitter:title") or (title_tag.get_text(" ", strip=True) if title_tag else None)
    publisher = meta("og:site_name", "article:publisher", "publisher", "application-name")
    if publisher and re.match(r"https?://", publisher):  # article:publisher is often a Facebook URL
        publisher = meta("og:site_name")
    time_tag = soup.find("time", attrs={"datetime": True})
    date = meta(
        "article:published_time", "datePublished", "date", "pubdate", "publishdate", "dc.date", "DC.date.issued"
    )
    if not date and isinstance(time_tag, Tag):
        date = str(time_tag.get("datetime") or "") or None
    canonical = soup.find("link", attrs={"rel": "canonical", "href": True})
    url = (str(canonical.get("href")) if isinstance(canonical, Tag) else None) or meta("og:url")
    return {"title": title or None, "publisher": publisher, "date": date, "url": url}


_DATE_FORMATS = ("%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%Y/%m/%d", "%Y.%m.%d")


def _iso_date(value: str | None) -> str | None:
    """YYYY-MM-DD when the date parses, else the value as found."""
    if not value or not value.strip():
        return None
    value = " ".join(value.split())
    try:
        return datetime.fromisoformat(value).date().isoformat()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date().isoformat()
        except ValueError:
            continue
    try:
        return parsedate_to_datetime(value).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return value


# --- Markdown ---------------------------------------------------------------

_FRONT_MATTER_KEYS = {
    "title": "title",
    "headline": "title",
    "publisher": "publisher",
    "source": "publisher",
    "site": "publisher",
    "site_name": "publisher",
    "publication": "publisher",
    "date": "date",
    "published": "date",
    "published_at": "date",
    "pubdate": "date",
    "url": "url",
    "link": "url",
    "canonical": "url",
    "canonical_url": "url",
}
_FRONT_MATTER_MAX_LINES = 60
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_SETEXT_H1 = re.compile(r"^=+\s*$")
_FENCE = re.compile(r"^(```|~~~)")
_BULLET = re.compile(r"^[-*+]\s+")
_NUMBERED = re.compile(r"^\d{1,3}[.)]\s+")
_RULE = re.compile(r"^(?:[-*_]\s*){3,}$")
_REFERENCE = re.compile(r"^\[[^\]]+\]:\s*\S+")
_INLINE = (
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # [text](url)
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [text][ref]
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1"),  # <http://autolink>
    (re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>"), ""),  # inline HTML tags
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])"), r"\1"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!>])"), r"\1"),  # backslash escapes
)


def markdown_to_text(markdown: str) -> _Extracted:
    """Plain paragraphs of a Markdown article; front matter and a leading "# Title" become metadata."""
    meta, body = _front_matter(markdown.replace("\r\n", "\n").replace("\r", "\n"))
    paragraphs, heading = _markdown_paragraphs(body)
    return _Extracted(
        text="\n\n".join(paragraphs),
        title=meta.get("title") or heading,
        publisher=meta.get("publisher"),
        date=meta.get("date"),
        url=meta.get("url"),
    )


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """Simple ``key: value`` lines between leading ``---`` lines (no YAML dependency)."""
    lines = text.lstrip("\ufeff").split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text
    for end in range(1, min(len(lines), _FRONT_MATTER_MAX_LINES)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        return {}, text
    meta: dict[str, str] = {}
    for line in lines[1:end]:
        key, colon, value = line.partition(":")
        field = _FRONT_MATTER_KEYS.get(key.strip().lower())
        value = value.strip().strip("\"'").strip()
        if colon and field and value:
            if field == "publisher" and re.match(r"https?://", value):
                field = "url"
            meta.setdefault(field, value)
    return meta, "\n".join(lines[end + 1 :])


def _markdown_paragraphs(body: str) -> tuple[list[str], str | None]:
    """Paragraphs with soft-wrapped lines joined, and the text of a leading level-1 heading."""
    paragraphs: list[str] = []
    current: list[str] = []
    heading: str | None = None
    in_fence = False

    def flush() -> None:
        if current:
            paragraphs.append(_inline(" ".join(current)))
            current.clear()

    for raw in body.split("\n"):
        line = raw.strip()
        if _FENCE.match(line):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            if line:
                paragraphs.append(line)
            continue
        line = re.sub(r"^(?:>\s?)+", "", line)
        if not line or _RULE.match(line) or _REFERENCE.match(line):
            flush()
        elif _SETEXT_H1.match(line) and len(current) == 1:
            if not paragraphs and heading is None:
                heading = _inline(current[0])
                current.clear()
            flush()
        elif found := _HEADING.match(line):
            flush()
            text = _inline(found.group(2))
            if len(found.group(1)) == 1 and not paragraphs and heading is None:
                heading = text
            elif text:
                paragraphs.append(text)
        elif _BULLET.match(line) or _NUMBERED.match(line):
            flush()
            current.append(_BULLET.sub("• ", line))
        else:
            current.append(line)
            if raw.endswith(("  ", "\\")):  # hard line break
                current[-1] = current[-1].rstrip("\\")
                flush()
    flush()
    return [p for p in paragraphs if p.strip()], heading or None


def _inline(text: str) -> str:
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())
