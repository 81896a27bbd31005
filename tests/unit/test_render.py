"""The app's HTML rendering: escaping of hostile article text, citation links, highlights, refusals."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from rag.types import Answer, Article, Citation, PassageRef, RetrievedPassage
from rag.web import render

HOSTILE = (
    "Breaking <script>alert('x')</script> news <img src=x onerror=alert(1)> and "
    "[click me](javascript:alert(1)) ![pic](http://evil.example/p.png) **bold** `code` "
    "$x^2$ ${window.pwned=1} <a href=\"http://evil.example\">link</a> http://evil.example/auto "
    "www.evil.example me@evil.example # heading | table | [3] [1, 2]"
)

TEXT = "First sentence here. The quoted claim is this one. And a last sentence follows.\n\nNew paragraph."
Q_START = TEXT.index("The quoted")
Q_END = TEXT.index("one.") + len("one.")


class Tags(HTMLParser):
    """Collects start tags and attributes, and the text as a browser shows it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(markup: str) -> Tags:
    parser = Tags()
    parser.feed(markup)
    parser.close()
    return parser


def article(text: str = TEXT, title: str = "A title", **extra: object) -> Article:
    return Article(id="a1", source="dir/a.txt", title=title, text=text, content_hash="0" * 64, **extra)  # type: ignore[arg-type]


def passage(text: str = TEXT, start: int = 0, pid: str = "a1-x-0000", **extra: object) -> RetrievedPassage:
    fields: dict[str, object] = dict(
        passage_id=pid, article_id="a1", source="dir/a.txt", title="A title", publisher="The Paper",
        date="2025-01-02", text=text, start=start, end=start + len(text), score=1.0, relevance=0.8,
    )
    fields.update(extra)
    return RetrievedPassage(**fields)  # type: ignore[arg-type]


def citation(marker: int = 1, start: int = Q_START, end: int = Q_END, **extra: object) -> Citation:
    fields: dict[str, object] = dict(
        marker=marker, passage_id="a1-x-0000", article_id="a1", source="dir/a.txt", title="A title",
        publisher="The Paper", date="2025-01-02", quote=TEXT[start:end], start=start, end=end, support=0.9,
    )
    fields.update(extra)
    return Citation(**fields)  # type: ignore[arg-type]


def answer(text: str, citations: tuple[Citation, ...] = (), refused: bool = False, **extra: object) -> Answer:
    fields: dict[str, object] = dict(
        question="q?", standalone_question="q?", answer=text, refused=refused, citations=citations,
        passages=(passage(),), backend="extractive",
    )
    fields.update(extra)
    return Answer(**fields)  # type: ignore[arg-type]


def assert_inert(markup: str) -> None:
    """No tag or attribute from the hostile text survives, and no Markdown/template syntax is left."""
    tags = parse(markup)
    names = {tag for tag, _ in tags.tags}
    assert not names & {"script", "img", "iframe", "object", "embed", "style"}
    for tag, attrs in tags.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        href = attrs.get("href")
        if href is not None:
            assert href.startswith("#src-"), href
    # Markdown, LaTeX and template syntax is encoded, so a Markdown pass leaves it alone.
    raw_text = re.sub(r"&#?\w+;", "", re.sub(r"<[^>]*>", "", markup))
    for syntax in ("](", "![", "**", "`", "$", "{", "://", "www.", "@", "[", "]", "#", "*", "_", "|"):
        assert syntax not in raw_text, (syntax, raw_text[:200])


def visible(markup: str) -> str:
    return "".join(parse(markup.replace("<br>", "\n")).text)


def test_esc_round_trips_to_the_same_visible_text() -> None:
    out = render.esc(HOSTILE)
    assert "<" not in out.replace("<br>", "") and ">" not in out.replace("<br>", "")
    assert visible(out) == HOSTILE
    assert_inert(out)


def test_esc_turns_newlines_into_breaks_so_markdown_never_sees_a_blank_line() -> None:
    out = render.esc("a\n\nb\r\nc")
    assert "\n" not in out and out.count("<br>") == 3
    assert render.esc("a\n\n\nb", compact=True) == "a<br>b"


@pytest.mark.parametrize("where", ["title", "text", "publisher"])
def test_hostile_article_text_is_inert_in_every_card(where: str) -> None:
    text = TEXT if where != "text" else HOSTILE + " " + TEXT
    q_start = text.index("The quoted")
    q_end = q_start + (Q_END - Q_START)
    extra: dict[str, Any] = {"title": HOSTILE} if where == "title" else {}
    pub: dict[str, Any] = {"publisher": HOSTILE} if where == "publisher" else {}
    art = article(text, **extra)
    p = passage(text, **extra, **pub)
    c = citation(start=q_start, end=q_end, quote=text[q_start:q_end], **extra, **pub)
    a = answer("The claim [1].", (c,), passages=(p,))
    views = [render.TurnView(0, HOSTILE, (p,), a)]
    shown = (  # every field of the article is visible here
        render.sources_html(views, {"a1": art}),
        render.citation_card(0, c, p, art),
        render.passage_card(0, "e1", 1, p, art, full=True),
        render.articles_table_html([{"title": HOSTILE, "source": HOSTILE, "publisher": HOSTILE, "date": HOSTILE,
                                     "passages": 3}]),
        render.index_report_html([render.UploadOutcome(HOSTILE, None, HOSTILE)], problems=[(HOSTILE, HOSTILE)]),
    )
    for markup in shown + (
        render.full_article_html(art, q_start, q_end),
        render.answer_html(a, 0),
        render.refusal_html(answer("The articles don't cover this.", refused=True, passages=(p,)), 0),
        render.user_html(HOSTILE),
        render.pending_html(HOSTILE),
        render.error_html(HOSTILE),
    ):
        assert_inert(markup)
    if where != "text":
        for markup in shown:
            assert HOSTILE in visible(markup)
    else:
        assert HOSTILE in visible(render.full_article_html(art, q_start, q_end))


def test_answer_text_is_escaped_and_markers_become_links_to_source_cards() -> None:
    c1, c2 = citation(1), citation(2)
    a = answer("Claim <b>one</b> [1]. Claim ![x](y) two [2]. Unknown [7]. Both [1, 2].", (c1, c2))
    markup = render.answer_html(a, turn=3)
    assert_inert(markup)
    links = [attrs for tag, attrs in parse(markup).tags if tag == "a"]
    assert [link["href"] for link in links] == ["#src-3-1", "#src-3-2", "#src-3-1", "#src-3-2"]
    assert all(link["class"] == "cite" for link in links)
    text = visible(markup)
    assert "Claim <b>one</b> [1]. Claim ![x](y) two [2]. Unknown [7]. Both [1][2]." in text
    assert "2 sources cited" in text


def test_citation_card_has_the_linked_id_and_the_quote_marked_inside_its_passage() -> None:
    c = citation(2)
    p = passage()
    markup = render.citation_card(5, c, p, article(url="https://example.org/x"))
    tags = parse(markup)
    assert ("article", {"class": "rag-card", "id": "src-5-2", "data-turn": "5", "data-marker": "2"}) in tags.tags
    marks = re.findall(r"<mark>(.*?)</mark>", markup)
    assert html.unescape(marks[0]) == TEXT[Q_START:Q_END]  # in the passage
    assert html.unescape(marks[1]) == TEXT[Q_START:Q_END]  # in the full article
    passage_html = markup.split('<blockquote class="rag-passage">')[1].split("</blockquote>")[0]
    assert visible(passage_html).startswith("First sentence here.")  # the surrounding passage is shown
    text = visible(markup)
    assert "A title" in text and "The Paper" in text and "2025-01-02" in text and "dir/a.txt" in text
    assert "Show full article" in text and "New paragraph." in text
    assert "example.org" in text and not any(tag == "a" for tag, _ in tags.tags)  # URL as inert text


def test_quote_outside_the_given_passage_is_marked_in_an_article_window() -> None:
    long_text = "Padding words here. " * 100 + "Needle sentence. " + "More words after. " * 100
    start = long_text.index("Needle")
    end = start + len("Needle sentence.")
    markup = render.quote_in_context(start, end, passage(TEXT), article(long_text))
    assert markup.startswith("… ") and markup.endswith(" …")
    assert html.unescape(re.findall(r"<mark>(.*?)</mark>", markup)[0]) == "Needle sentence."
    assert len(visible(markup)) < 2 * render.CONTEXT_CHARS + 50


@pytest.mark.parametrize(
    ("start", "end", "marked"),
    [(0, 5, "First"), (-4, 5, "First"), (len(TEXT) - 9, 10**6, "aragraph."), (7, 7, None), (Q_START, Q_END,
                                                                                              TEXT[Q_START:Q_END])],
)
def test_highlight_offsets_are_exact_and_clamped(start: int, end: int, marked: str | None) -> None:
    out = render.highlight(TEXT, start, end)
    found = [html.unescape(m) for m in re.findall(r"<mark>(.*?)</mark>", out)]
    assert found == ([] if marked is None else [marked])
    assert visible(out) == TEXT


def test_full_article_window_for_very_long_articles_keeps_the_mark() -> None:
    text = "x " * render.FULL_ARTICLE_MAX_CHARS + "Needle." + " y" * render.FULL_ARTICLE_MAX_CHARS
    start = text.index("Needle")
    markup = render.full_article_html(article(text), start, start + 7)
    assert "<mark>Needle&#46;</mark>" in markup
    assert len(markup) < 2 * render.FULL_ARTICLE_MAX_CHARS


def test_refusal_block_looks_different_and_lists_the_nearest_passages() -> None:
    near = tuple(passage(f"Passage number {i} text.", pid=f"a1-x-{i:04d}", title=f"Title {i}") for i in range(5))
    a = answer("The articles don't cover this.", refused=True, passages=near,
               refusal_reason="no passage is relevant enough (best relevance 0.12 < 0.28)",
               notice="The language model is unavailable; showing the most relevant sentences instead.")
    markup = render.answer_html(a, turn=1)
    assert markup.startswith('<div class="rag-refusal">') and "rag-answer" not in markup
    text = visible(markup)
    assert "The articles don't cover this." in text and "best relevance 0.12" in text
    assert "Nearest passages" in text and "Title 0" in text and "Title 2" in text and "Title 3" not in text
    assert "language model is unavailable" in text
    hrefs = [attrs["href"] for tag, attrs in parse(markup).tags if tag == "a"]
    assert hrefs == ["#src-1-p1", "#src-1-p2", "#src-1-p3"]
    panel = render.sources_html([render.TurnView(1, "q?", near, a)], {"a1": article()})
    assert all(f'id="src-1-p{i}"' in panel for i in range(1, 6))
    assert "don’t cover this" in visible(panel)


def test_notice_is_a_banner_on_the_answer() -> None:
    a = answer("Claim [1].", (citation(),), notice="LLM unreachable; extractive answer.")
    markup = render.answer_html(a, 0)
    assert 'class="rag-notice"' in markup and "LLM unreachable; extractive answer." in visible(markup)


def test_the_filter_note_is_shown_under_answers_and_refusals_escaped() -> None:
    note = "Filtered: <b>Sky</b> News · 1 of 912 articles · 3 undated excluded"
    for markup in (render.answer_html(answer("Claim [1].", (citation(),), filter_note=note), 0),
                   render.refusal_html(answer("The articles don't cover this.", refused=True, filter_note=note,
                                              refusal_reason="no article matches the filters (Sky News)"), 0)):
        assert 'class="rag-filter-note"' in markup and note in visible(markup)
        assert "<b>" not in markup
    assert "rag-filter-note" not in render.answer_html(answer("Claim [1].", (citation(),)), 0)


def test_sources_panel_shows_only_the_last_turn_and_streaming_evidence() -> None:
    p = passage(also_in=(PassageRef(passage_id="b-1", article_id="b", source="b.txt", title="Other <i>", start=0,
                                    end=5),))
    first = render.TurnView(0, "first?", (p,), answer("Claim [1].", (citation(),)))
    streaming = render.TurnView(1, "second?", (p, passage(pid="a1-x-0001")))
    markup = render.sources_html([first, streaming], {"a1": article()})
    sections = re.findall(r'<section class="rag-turn[^"]*" id="turn-(\d)" data-turn="\d"( hidden)?>', markup)
    assert sections == [("0", " hidden"), ("1", "")]
    assert "Searching… found 2 passages from 1 article" in visible(markup)
    assert "Also in: Other <i>" in visible(markup)
    assert 'id="src-1-e1"' in markup and 'id="src-1-e2"' in markup
    empty = render.sources_html([], {})
    assert "Click a citation" in visible(empty)


def test_evidence_summary_counts_articles() -> None:
    ps = (passage(), passage(pid="p2"), passage(pid="p3", article_id="b"))
    assert render.evidence_summary(ps) == "Searching… found 3 passages from 2 articles"
    assert render.evidence_summary(ps[:1], done=True) == "Found 1 passage from 1 article"


def test_status_line() -> None:
    line = visible(render.status_html({"articles": 3, "passages": 54, "last indexed": "2025-01-01 10:00:00 UTC"}))
    assert line == "3 articles · 54 passages · last indexed 2025-01-01 10:00:00 UTC"
    assert "No index" in visible(render.status_html(None, "No index at x"))


def test_bracketed_numbers_that_cite_nothing_stay_text() -> None:
    html = render.linkify_markers("Seasons [2015-2016] and [3].", [], 0)
    assert "2015" in html and "2020" not in html and 'class="cite"' not in html
