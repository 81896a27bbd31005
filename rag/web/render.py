"""HTML for the chat app: answers with citation links, source cards, full articles.

Pure functions, no Gradio. Everything that comes from an article or a model is
untrusted: :func:`esc` escapes it for HTML *and* neutralises Markdown, template
and autolink syntax, so it renders as inert text both in ``gr.HTML`` and inside
the Chatbot (which runs Markdown before sanitising HTML). Chat messages are one
HTML block without blank lines, so Markdown never parses their contents.

Ids: the source card for marker ``n`` of chat turn ``t`` has ``id="src-t-n"``,
and the answer links to it with ``<a class="cite" href="#src-t-n">``; the nearest
passages of a refusal are ``src-t-pN``. The app's JavaScript turns a click on a
link into "show turn t in the sources panel, scroll to the card, highlight it".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rag.server.uploads import UploadOutcome
from rag.text import MARKER, marker_numbers
from rag.types import Answer, Article, Citation, RetrievedPassage

# HTML's special characters, and those with a meaning in Markdown, GFM autolinks,
# LaTeX delimiters or JS templates, as character references (shown as themselves).
_INERT_TABLE = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
    | {c: f"&#{ord(c)};" for c in "\\`*_{}[]()#+-!|~$:@.=^"}
)
CONTEXT_CHARS = 320  # characters of article text shown on each side of a quote outside its passage
FULL_ARTICLE_MAX_CHARS = 60_000  # longer articles are shown as a window around the quote
SNIPPET_CHARS = 160


def esc(text: object, compact: bool = False) -> str:
    """Untrusted text as inert HTML: escaped, Markdown-neutral, newlines as <br> (runs of them as one if compact)."""
    escaped = str(text).replace("\r\n", "\n").translate(_INERT_TABLE)
    return re.sub(r"\n+" if compact else r"\n", "<br>", escaped)


def esc_attr(text: object) -> str:
    """Untrusted text for an attribute value (one line)."""
    return esc(" ".join(str(text).split()))


def highlight(text: str, start: int, end: int, compact: bool = False) -> str:
    """``text`` escaped, with ``text[start:end]`` wrapped in ``<mark>`` (offsets clamped)."""
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    if start == end:
        return esc(text, compact)
    return f"{esc(text[:start], compact)}<mark>{esc(text[start:end], compact)}</mark>{esc(text[end:], compact)}"


def _window(text: str, start: int, end: int, context: int) -> tuple[str, int, int, bool, bool]:
    """A slice of text around [start:end], cut at whitespace; returns (slice, start, end, cut_left, cut_right)."""
    lo = max(0, start - context)
    hi = min(len(text), end + context)
    if lo > 0:
        space = text.find(" ", lo, start)
        lo = space + 1 if space != -1 else lo
    if hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space != -1 else hi
    return text[lo:hi], start - lo, end - lo, lo > 0, hi < len(text)


def quote_in_context(
    quote_start: int, quote_end: int, passage: RetrievedPassage | None, article: Article | None, quote: str = ""
) -> str:
    """The quote highlighted inside its passage (or a window of the article, or alone)."""
    if passage is not None and passage.start <= quote_start and quote_end <= passage.end:
        return highlight(passage.text, quote_start - passage.start, quote_end - passage.start, compact=True)
    if article is not None and 0 <= quote_start < quote_end <= len(article.text):
        piece, a, b, left, right = _window(article.text, quote_start, quote_end, CONTEXT_CHARS)
        return ("… " if left else "") + highlight(piece, a, b, compact=True) + (" …" if right else "")
    return f"<mark>{esc(quote)}</mark>"


def full_article_html(article: Article, start: int | None = None, end: int | None = None) -> str:
    """The whole cleaned article, escaped, with [start:end] marked (a window if very long)."""
    text = article.text
    if start is None or end is None:
        body = esc(text[:FULL_ARTICLE_MAX_CHARS]) + (" …" if len(text) > FULL_ARTICLE_MAX_CHARS else "")
    elif len(text) <= FULL_ARTICLE_MAX_CHARS:
        body = highlight(text, start, end)
    else:
        piece, a, b, left, right = _window(text, start, end, FULL_ARTICLE_MAX_CHARS // 2)
        body = ("… " if left else "") + highlight(piece, a, b) + (" …" if right else "")
    return f'<div class="rag-article-text">{body}</div>'


def article_meta(title: str, publisher: str | None, date: str | None, source: str, url: str | None = None) -> str:
    parts = [f'<span class="rag-publisher">{esc(publisher)}</span>' if publisher else "",
             f'<span class="rag-date">{esc(date)}</span>' if date else "",
             f'<span class="rag-file">{esc(source)}</span>']
    meta = " · ".join(p for p in parts if p)
    return f'<div class="rag-title">{esc(title)}</div><div class="rag-meta">{meta}</div>'


# --- chat messages -----------------------------------------------------------


def _cite_link(turn: int, marker: int, citation: Citation | None) -> str:
    if citation is None:  # a marker the verifier did not resolve: plain text
        return f"&#91;{marker}&#93;"
    tip = esc_attr(f"{citation.title} — “{citation.quote[:140]}”")
    return (
        f'<a class="cite" href="#src-{turn}-{marker}" title="{tip}">&#91;{marker}&#93;</a>'
    )


def linkify_markers(text: str, citations: Sequence[Citation], turn: int) -> str:
    """Escape ``text`` and turn each ``[n]`` (or ``[n, m]``) into links to the source cards."""
    by_marker = {c.marker: c for c in citations}
    out: list[str] = []
    pos = 0
    for found in MARKER.finditer(text):
        out.append(esc(text[pos : found.start()]))
        numbers = marker_numbers(found.group(1))
        if any(n in by_marker for n in numbers):
            out.append("".join(_cite_link(turn, n, by_marker.get(n)) for n in numbers))
        else:  # "[2015-2016]" in a quote is text, not citations
            out.append(esc(found.group(0)))
        pos = found.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def notice_html(notice: str) -> str:
    return f'<div class="rag-notice" role="status">⚠ {esc(notice)}</div>'


def filter_note_html(note: str | None) -> str:
    """What the filters let through ("Filtered: Sky News · 1 of 912 articles · 3 undated excluded"), or ""."""
    return f'<div class="rag-filter-note">{esc(note)}</div>' if note else ""


def answer_html(answer: Answer, turn: int) -> str:
    """The verified answer as one chat message (refusals get their own look)."""
    if answer.refused:
        return refusal_html(answer, turn)
    parts = ['<div class="rag-answer">']
    if answer.notice:
        parts.append(notice_html(answer.notice))
    parts.append(f'<div class="rag-answer-text">{linkify_markers(answer.answer, answer.citations, turn)}</div>')
    parts.append(filter_note_html(answer.filter_note))
    parts.append(_answer_footer(answer))
    parts.append("</div>")
    return "".join(parts)


def _answer_footer(answer: Answer) -> str:
    bits = []
    n = len({c.marker for c in answer.citations})
    bits.append(f"{n} source{'s' if n != 1 else ''} cited")
    if answer.dropped_sentences:
        k = len(answer.dropped_sentences)
        bits.append(f"{k} unsupported sentence{'s' if k != 1 else ''} removed")
    bits.append(esc(answer.backend))
    total = answer.timings.get("total")
    if total is not None:
        bits.append(f"{total:.1f} s")
    return f'<div class="rag-answer-meta">{" · ".join(bits)}</div>'


def refusal_html(answer: Answer, turn: int, nearest: int = 3) -> str:
    """A distinct block: the refusal, why, and the nearest passages (linked to the panel)."""
    parts = ['<div class="rag-refusal">']
    if answer.notice:
        parts.append(notice_html(answer.notice))
    parts.append(f'<div class="rag-refusal-title">{esc(answer.answer or "The articles don’t cover this.")}</div>')
    if answer.refusal_reason:
        parts.append(f'<div class="rag-refusal-reason">Why: {esc(answer.refusal_reason)}</div>')
    parts.append(filter_note_html(answer.filter_note))
    if answer.passages:
        parts.append('<div class="rag-refusal-near">Nearest passages:</div><ul class="rag-near-list">')
        for i, p in enumerate(answer.passages[:nearest], start=1):
            text = " ".join(p.text.split())
            snippet = text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"
            parts.append(
                f'<li><a class="cite-near" href="#src-{turn}-p{i}">'
                f"{esc(p.title)}</a> <span class=\"rag-snippet\">{esc(snippet)}</span></li>"
            )
        parts.append("</ul>")
    parts.append("</div>")
    return "".join(parts)


def pending_html(raw_text: str = "", status: str = "Searching the articles…") -> str:
    """The assistant message while the answer streams (raw model text, not yet verified)."""
    body = f'<div class="rag-stream-text">{esc(raw_text)}</div>' if raw_text else ""
    return f'<div class="rag-pending">{body}<div class="rag-pending-status">{esc(status)}</div></div>'


def error_html(message: str) -> str:
    return f'<div class="rag-error" role="alert">{esc(message)}</div>'


def user_html(question: str) -> str:
    return f'<div class="rag-question">{esc(question)}</div>'


# --- the sources panel -----------------------------------------------------------


@dataclass(frozen=True)
class TurnView:
    """What the sources panel shows for one chat turn."""

    turn: int
    question: str
    passages: tuple[RetrievedPassage, ...] = ()
    answer: Answer | None = None  # None while the answer is being written
    error: str | None = None


def _count_articles(passages: Iterable[RetrievedPassage]) -> int:
    return len({p.article_id for p in passages})


def evidence_summary(passages: Sequence[RetrievedPassage], done: bool = False) -> str:
    n, m = len(passages), _count_articles(passages)
    found = f"found {n} passage{'s' if n != 1 else ''} from {m} article{'s' if m != 1 else ''}"
    return f"Found {found[6:]}" if done else f"Searching… {found}"


def _full_article_block(article: Article | None, start: int, end: int) -> str:
    if article is None:
        return ""
    return (
        '<details class="rag-full"><summary>Show full article</summary>'
        f"{full_article_html(article, start, end)}</details>"
    )


def citation_card(
    turn: int, citation: Citation, passage: RetrievedPassage | None, article: Article | None, full: bool = True
) -> str:
    """The card for marker [n]: title, publisher, date, the quote marked inside its passage."""
    context = quote_in_context(citation.start, citation.end, passage, article, citation.quote)
    url = article.url if article is not None else None
    link = (
        f'<div class="rag-url">{esc(url)}</div>' if url else ""
    )  # shown as text: an article's URL is untrusted and we stay offline
    return (
        f'<article class="rag-card" id="src-{turn}-{citation.marker}" data-turn="{turn}" '
        f'data-marker="{citation.marker}">'
        f'<div class="rag-card-head"><span class="rag-badge">&#91;{citation.marker}&#93;</span>'
        f"<div>{article_meta(citation.title, citation.publisher, citation.date, citation.source)}{link}</div></div>"
        f'<blockquote class="rag-passage">{context}</blockquote>'
        f"{_full_article_block(article, citation.start, citation.end) if full else ''}"
        "</article>"
    )


def passage_card(
    turn: int, key: str, rank: int, passage: RetrievedPassage, article: Article | None = None, full: bool = False
) -> str:
    """A retrieved passage (no quote): evidence while streaming, or a refusal's nearest passage."""
    also = ""
    if passage.also_in:
        others = ", ".join(esc(ref.title) for ref in passage.also_in)
        also = f'<div class="rag-also">Also in: {others}</div>'
    return (
        f'<article class="rag-card rag-card-passage" id="src-{turn}-{key}" data-turn="{turn}" data-marker="{key}">'
        f'<div class="rag-card-head"><span class="rag-rank">&#35;{rank}</span>'
        f"<div>{article_meta(passage.title, passage.publisher, passage.date, passage.source)}"
        f'<div class="rag-relevance">relevance {passage.relevance:.2f}</div></div></div>'
        f'<blockquote class="rag-passage">{esc(passage.text, compact=True)}</blockquote>{also}'
        f"{_full_article_block(article, passage.start, passage.end) if full else ''}"
        "</article>"
    )


def turn_html(view: TurnView, articles: Mapping[str, Article | None], active: bool, full: bool = True) -> str:
    """One turn's section of the sources panel."""
    head = f'<div class="rag-turn-q">Sources for “{esc(view.question)}”</div>'
    body: list[str] = []
    answer = view.answer
    if view.error is not None:
        body.append(f'<div class="rag-panel-note">{esc(view.error)}</div>')
    elif answer is None:
        if not view.passages:
            body.append('<div class="rag-panel-note rag-searching">Searching the articles…</div>')
        else:
            body.append(f'<div class="rag-panel-note rag-searching">{esc(evidence_summary(view.passages))}</div>')
            body += [passage_card(view.turn, f"e{i}", i, p) for i, p in enumerate(view.passages, start=1)]
    elif answer.refused:
        body.append(
            '<div class="rag-panel-note rag-refused-note">The articles don’t cover this. '
            f"Nearest of the {len(answer.passages)} retrieved passages:</div>"
        )
        body += [
            passage_card(view.turn, f"p{i}", i, p, articles.get(p.article_id), full)
            for i, p in enumerate(answer.passages, start=1)
        ]
    else:
        by_id = {p.passage_id: p for p in answer.passages}
        body.append(f'<div class="rag-panel-note">{esc(evidence_summary(answer.passages, done=True))}; '
                    f"{len(answer.citations)} cited.</div>")
        body += [
            citation_card(view.turn, c, by_id.get(c.passage_id), articles.get(c.article_id), full)
            for c in answer.citations
        ]
        cited = {c.passage_id for c in answer.citations}
        rest = [p for p in answer.passages if p.passage_id not in cited]
        if rest:
            cards = "".join(passage_card(view.turn, f"r{i}", i, p) for i, p in enumerate(rest, start=1))
            body.append(
                f'<details class="rag-rest"><summary>{len(rest)} other retrieved passage'
                f"{'s' if len(rest) != 1 else ''}</summary>{cards}</details>"
            )
    hidden = "" if active else " hidden"
    state = " rag-active" if active else ""
    return (  # the question and the summary note stay in view while the cards scroll
        f'<section class="rag-turn{state}" id="turn-{view.turn}" data-turn="{view.turn}"{hidden}>'
        f'<div class="rag-turn-head">{head}{body[0]}</div>{"".join(body[1:])}</section>'
    )


def sources_html(
    views: Sequence[TurnView], articles: Mapping[str, Article | None], full_article_turns: int = 5
) -> str:
    """The whole sources panel: every turn's section, the last one visible."""
    if not views:
        return (
            '<div class="rag-sources rag-empty"><div class="rag-panel-title">Sources</div>'
            '<div class="rag-panel-note">Ask a question: the passages the answer is built on appear here. '
            "Click a citation such as <span class=\"rag-badge\">&#91;1&#93;</span> to jump to its source.</div></div>"
        )
    last = len(views) - 1
    sections = [
        turn_html(v, articles, active=(i == last), full=(i >= len(views) - full_article_turns))
        for i, v in enumerate(views)
    ]
    return f'<div class="rag-sources"><div class="rag-panel-title">Sources</div>{"".join(sections)}</div>'


def article_ids_for(view: TurnView) -> set[str]:
    """Articles whose full text the panel needs for this turn."""
    if view.answer is None:
        return set()
    if view.answer.refused:
        return {p.article_id for p in view.answer.passages}
    return {c.article_id for c in view.answer.citations}


# --- index and corpus ----------------------------------------------------------------


def status_html(status: Mapping[str, object] | None, error: str | None = None) -> str:
    """The one-line index status."""
    if status is None:
        return f'<div class="rag-status rag-status-error">Index: {esc(error or "unavailable")}</div>'
    articles, passages = status.get("articles", 0), status.get("passages", 0)
    line = (
        f"<b>{esc(articles)}</b> article{'s' if articles != 1 else ''} · "
        f"<b>{esc(passages)}</b> passage{'s' if passages != 1 else ''} · "
        f"last indexed {esc(status.get('last indexed', 'never'))}"
    )
    if status.get("interrupted"):
        line += " · <b>last indexing was interrupted</b>"
    return f'<div class="rag-status">{line}</div>'


def articles_table_html(rows: Sequence[Mapping[str, object]]) -> str:
    """The indexed articles: title, source, publisher, date, passages."""
    if not rows:
        return '<div class="rag-panel-note">No articles indexed yet: upload some.</div>'
    body = "".join(
        "<tr>"
        f'<td class="rag-col-title">{esc(r.get("title") or "")}</td>'
        f'<td class="rag-file">{esc(r.get("source") or "")}</td>'
        f'<td>{esc(r.get("publisher") or "—")}</td>'
        f'<td>{esc(r.get("date") or "—")}</td>'
        f'<td class="rag-num">{esc(r.get("passages", 0))}</td>'
        "</tr>"
        for r in rows
    )
    return (
        '<table class="rag-table"><thead><tr><th>Title</th><th>File</th><th>Publisher</th><th>Date</th>'
        f'<th class="rag-num">Passages</th></tr></thead><tbody>{body}</tbody></table>'
    )


def index_report_html(
    outcomes: Sequence[UploadOutcome] = (),
    added: Sequence[str] = (),
    updated: Sequence[str] = (),
    removed: Sequence[str] = (),
    problems: Sequence[tuple[str, str]] = (),
    summary: str | None = None,
    error: str | None = None,
) -> str:
    """What an upload or removal did: files saved/rejected, then the index report."""
    items: list[str] = []
    for o in outcomes:
        if o.saved_as is not None:
            note = f" — {esc(o.message)}" if o.message else ""
            saved = "saved" if o.saved_as == o.name else f"saved as <code>{esc(o.saved_as)}</code>"
            items.append(f'<li class="rag-ok">✔ {esc(o.name)} {saved}{note}</li>')
        else:
            items.append(f'<li class="rag-bad">✘ {esc(o.name)}: {esc(o.message)}</li>')
    for label, names, cls in (("added", added, "rag-ok"), ("updated", updated, "rag-ok"),
                              ("removed", removed, "rag-ok")):
        items += [f'<li class="{cls}">{label}: <code>{esc(n)}</code></li>' for n in names]
    items += [f'<li class="rag-bad">problem: <code>{esc(s)}</code> — {esc(r)}</li>' for s, r in problems]
    parts = ['<div class="rag-report">']
    if error:
        parts.append(f'<div class="rag-error">{esc(error)}</div>')
    if items:
        parts.append(f"<ul>{''.join(items)}</ul>")
    if summary:
        parts.append(f'<div class="rag-report-summary">Index: {esc(summary)}</div>')
    parts.append("</div>")
    return "".join(parts)
