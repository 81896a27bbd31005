"""An HTML page -> its article's paragraphs and metadata (boilerplate tags dropped, main content found)."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from rag.ingest.extracted import Extracted

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


def looks_like_html(text: str) -> bool:
    return bool(_HTML_START.match(text[:4096]))


def html_to_text(html: str) -> Extracted:
    """Paragraphs of an HTML page (one per block element) and its metadata."""
    soup = BeautifulSoup(html, "lxml")
    meta = _html_metadata(soup)
    for tag in soup.find_all(_DROPPED_TAGS):
        tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    body = soup.body or soup
    root = _main_content(body)
    return Extracted(text="\n\n".join(_blocks(root)), **meta)


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
