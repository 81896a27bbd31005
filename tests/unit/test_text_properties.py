"""Property tests: arbitrary text through normalize -> clean -> chunk."""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.ingest.chunking import chunk_article, split_sentences
from rag.ingest.cleaning import clean_article_text, normalize_text
from rag.text import terminal_safe
from rag.types import Article

# fmt: off
_TOKENS = [
    "Sir", "Keir", "Mr", "Lammy", "U.S.", "£11bn", "90mph", "said", "the", "minister", "Read more:", "-", "—",
    "(c) Sky News 2025: PM warns", "© 2025 Reuters", '"', "“", "”", ".", "!", "?", ":", ";", ",", "...", "…",
    "e.g.", "No.", "3.5%", "café", "日本語", "ﬁ", "\u00a0", "\u200b", "\t", "\x00", "\x1b", "\ufeff", "\r\n", "\n",
    "\n\n", "\n\n\n", "•", "* * *", "what happens next?", "www.example.org",
]
# fmt: on
_structured = st.lists(st.sampled_from(_TOKENS) | st.text(max_size=12), max_size=300).map(" ".join)
_tokens_no_space = st.lists(st.sampled_from(_TOKENS), max_size=200).map("".join)
_long_line = st.text(alphabet="abcdefghij ", min_size=500, max_size=6000)
_any_text = st.text(max_size=3000)
_LINES = [
    "The minister said the plan would be published next week, after months of delay.",
    '"We will not back down," she said.',
    "Storm hits coast",
    "What happens next?",
    "Read more:",
    "Read more: Why prices rose",
    "-",
    "(c) Sky News 2025: PM warns",
    "• Taxes up",
    "By Jane Smith",
    "and the lowercase continuation of a wrapped line",
]
_article_like = st.lists(st.sampled_from(_LINES), max_size=40).flatmap(
    lambda lines: st.sampled_from(["\n", "\n\n"]).map(lambda sep: sep.join(lines))
)
TEXTS = _any_text | _structured | _tokens_no_space | _long_line | _article_like

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(TEXTS)
def test_normalize_is_idempotent_and_clean(text: str) -> None:
    normal = normalize_text(text)
    assert normalize_text(normal) == normal
    assert "\r" not in normal and "\n\n\n" not in normal and "  " not in normal
    assert normal == normal.strip()
    categories = {unicodedata.category(ch) for ch in normal.replace("\n", "").replace(" ", "")}
    assert not categories & {"Cc", "Cf", "Zs", "Zl", "Zp"}


@PROPERTY_SETTINGS
@given(TEXTS)
def test_cleaned_text_is_normalised_paragraphs(text: str) -> None:
    cleaned = clean_article_text(normalize_text(text))
    assert normalize_text(cleaned.text) == cleaned.text
    if cleaned.text:
        assert all(p and p == p.strip() and "\n" not in p for p in cleaned.text.split("\n\n"))
    assert clean_article_text(cleaned.text).text == cleaned.text  # cleaning again changes nothing


@PROPERTY_SETTINGS
@given(TEXTS, st.integers(min_value=20, max_value=800), st.integers(min_value=0, max_value=3))
def test_passages_cover_cleaned_text(text: str, max_chars: int, overlap: int) -> None:
    cleaned = clean_article_text(normalize_text(text)).text
    article = Article(id="0" * 16, source="x.txt", title="x", text=cleaned, content_hash="f" * 64)
    passages = chunk_article(article, max_chars, overlap)

    covered = bytearray(len(cleaned))
    for passage in passages:
        assert passage.text == cleaned[passage.start : passage.end]
        assert passage.text and passage.text == passage.text.strip()
        assert len(passage.text) <= 2 * max_chars
        covered[passage.start : passage.end] = b"\x01" * (passage.end - passage.start)
    assert all(covered[i] for i, ch in enumerate(cleaned) if not ch.isspace())
    assert [p.start for p in passages] == sorted({p.start for p in passages})
    assert [p.end for p in passages] == sorted({p.end for p in passages})
    assert len({p.id for p in passages}) == len(passages)


@PROPERTY_SETTINGS
@given(TEXTS)
def test_sentence_spans_partition_the_text(text: str) -> None:
    spans = split_sentences(text)
    position = 0
    for start, end in spans:
        assert position <= start < end
        assert not text[position:start].strip()  # only whitespace between sentences
        assert text[start:end] == text[start:end].strip() and "\n" not in text[start:end]
        position = end
    assert not text[position:].strip()


@given(st.text())
def test_terminal_safe_text_is_one_line_without_reordering(text: str) -> None:
    shown = terminal_safe(text)
    assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown
    assert not any(c in shown for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def test_terminal_safe_shows_what_it_escaped() -> None:
    assert terminal_safe("a.txt\nadded    b.txt") == "a.txt\\nadded    b.txt"
    assert terminal_safe("report\u202egpj.exe") == "report\\u202egpj.exe"
    assert terminal_safe("café — ok") == "café — ok"
