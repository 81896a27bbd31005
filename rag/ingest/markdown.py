"""A Markdown file -> plain paragraphs and the metadata of its front matter."""

from __future__ import annotations

import re

from rag.ingest.extracted import Extracted

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


def markdown_to_text(markdown: str) -> Extracted:
    """Plain paragraphs of a Markdown article; front matter and a leading "# Title" become metadata."""
    meta, body = _front_matter(markdown.replace("\r\n", "\n").replace("\r", "\n"))
    paragraphs, heading = _markdown_paragraphs(body)
    return Extracted(
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
