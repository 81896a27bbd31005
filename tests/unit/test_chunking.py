"""Sentence splitting and sentence-aligned passages."""

from __future__ import annotations

import re
import time
from itertools import pairwise

import pytest

from evals.corpora import seeds_dir
from rag.ingest.chunking import chunk_article, split_sentences
from rag.ingest.cleaning import clean_article_text
from rag.types import Article, Passage

HASH = "ab" * 32


def _article(text: str, article_id: str = "0123456789abcdef") -> Article:
    return Article(id=article_id, source="a.txt", title="t", text=text, content_hash=HASH)


def _sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def _seed_text(name: str) -> str:
    return clean_article_text((seeds_dir() / name).read_text(encoding="utf-8")).text


SEED_TEXTS = [_seed_text(p.name) for p in sorted(seeds_dir().glob("*.txt"))]


# --- sentences ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The U.S. said on Monday that it would act. Mr. Smith disagreed.",
            ["The U.S. said on Monday that it would act.", "Mr. Smith disagreed."],
        ),
        (
            "COVID fraud cost taxpayers £11bn. Storm Bram brings 90mph winds. Rates rose 3.5% in May.",
            ["COVID fraud cost taxpayers £11bn.", "Storm Bram brings 90mph winds.", "Rates rose 3.5% in May."],
        ),
        (
            "It came after Mr Lammy told ministers the rules cannot be “frozen in time”. Sir Keir agreed.",
            ["It came after Mr Lammy told ministers the rules cannot be “frozen in time”.", "Sir Keir agreed."],
        ),
        ('He said "Stop!" and left. Then what?', ['He said "Stop!" and left.', "Then what?"]),
        ("She said: 'It is fine.' He left.", ["She said: 'It is fine.'", "He left."]),
        ("“We must act,” he said. “Now.”", ["“We must act,” he said.", "“Now.”"]),
    ],
)
def test_tricky_sentences(text: str, expected: list[str]) -> None:
    assert _sentences(text) == expected


def test_multi_sentence_quote_from_seed_is_split() -> None:
    text = SEED_TEXTS[0]
    sentences = _sentences(text)
    assert "This sums up this Prime Minister." in sentences
    assert 'He is literally all over the place."' in sentences
    assert any(s.startswith('He said: "How ironic') and s.endswith("under 30s.") for s in sentences)


def test_seed_sentences_with_titles_and_units_stay_whole() -> None:
    sentences = set(_sentences(SEED_TEXTS[1]) + _sentences(SEED_TEXTS[2]))
    assert "Mr Lammy is attending an informal summit of the Council of Europe." in sentences
    assert (
        "Council of Europe member states are expected to meet in Spring 2026 to discuss the ECHR reforms." in sentences
    )
    assert "That is often used as grounds to prevent deportations of illegal migrants from the UK." in sentences
    assert "What's the issue with the ECHR?" in sentences


def test_lowercased_text_is_split() -> None:
    text = "mr smith said no. it was fine, said dr jones.  the u.s. economy grew 3.2% in q3. sales fell"
    assert _sentences(text) == [
        "mr smith said no.",
        "it was fine, said dr jones.",
        "the u.s. economy grew 3.2% in q3.",
        "sales fell",
    ]


def test_sentences_never_cross_paragraphs() -> None:
    text = "First paragraph without a stop\n\nSecond one. Third\nfourth"
    assert _sentences(text) == ["First paragraph without a stop", "Second one.", "Third", "fourth"]


@pytest.mark.parametrize("text", [*SEED_TEXTS, "  padded  text  ", "", "\n\n", "a", "No. 10. . ! ?"])
def test_sentence_spans_cover_every_character_once(text: str) -> None:
    spans = split_sentences(text)
    covered = [0] * len(text)
    for start, end in spans:
        assert text[start:end] == text[start:end].strip() != ""
        assert "\n" not in text[start:end]
        for i in range(start, end):
            covered[i] += 1
    assert spans == sorted(spans)
    assert all(covered[i] == 1 for i, ch in enumerate(text) if not ch.isspace())
    assert all(count <= 1 for count in covered)


def test_sentence_splitting_is_fast() -> None:
    text = "\n\n".join(SEED_TEXTS * 16)  # ~250 kB
    started = time.perf_counter()
    split_sentences(text)
    assert time.perf_counter() - started < 2.0


# --- passages -------------------------------------------------------------------


def _check_passages(article: Article, passages: list[Passage], max_chars: int) -> None:
    assert [p.ordinal for p in passages] == list(range(len(passages)))
    for p in passages:
        assert p.text == article.text[p.start : p.end]
        assert p.text == p.text.strip()
        assert p.article_id == article.id
        assert p.id == f"{article.id}-{article.content_hash[:8]}-{p.ordinal:04d}"
    starts = [p.start for p in passages]
    ends = [p.end for p in passages]
    assert starts == sorted(starts) and ends == sorted(ends)
    assert len(set(starts)) == len(starts)
    for start, end in split_sentences(article.text):
        pieces_inside = [p for p in passages if p.start <= start < p.end or p.start < end <= p.end]
        assert pieces_inside, f"sentence {article.text[start:end]!r} in no passage"
        if end - start <= max_chars:
            assert any(p.start <= start and end <= p.end for p in passages)


@pytest.mark.parametrize("max_chars", [100, 300, 700, 2000])
@pytest.mark.parametrize("overlap", [0, 1, 2])
def test_seed_passages_are_valid(max_chars: int, overlap: int) -> None:
    for text in SEED_TEXTS:
        article = _article(text)
        passages = chunk_article(article, max_chars, overlap)
        _check_passages(article, passages, max_chars)
        sentence_spans = split_sentences(text)
        for p in passages:
            if len(p.text) > max_chars:  # only a single over-long sentence may exceed the limit
                assert (p.start, p.end) in sentence_spans
                assert len(p.text) <= 2 * max_chars


def test_passage_ids_and_offsets() -> None:
    article = _article("One sentence here. Another sentence there.", article_id="feedfacefeedface")
    (passage,) = chunk_article(article, 700, 1)
    assert passage == Passage(
        id=f"feedfacefeedface-{HASH[:8]}-0000",
        article_id="feedfacefeedface",
        ordinal=0,
        text=article.text,
        start=0,
        end=len(article.text),
    )


def _numbered(n: int, words: int = 8) -> str:
    return " ".join(f"Sentence {i} has " + " ".join(["word"] * words) + "." for i in range(n))


def test_overlap_repeats_last_sentences() -> None:
    article = _article(_numbered(12))
    passages = chunk_article(article, 200, 2)
    assert len(passages) > 2
    for previous, current in pairwise(passages):
        previous_sentences = _sentences(previous.text)
        current_sentences = _sentences(current.text)
        assert current_sentences[:2] == previous_sentences[-2:]
        assert len(current_sentences) > 2  # each passage brings something new


def test_no_overlap() -> None:
    article = _article(_numbered(12))
    passages = chunk_article(article, 200, 0)
    for previous, current in pairwise(passages):
        assert current.start > previous.end


def test_passages_respect_max_chars() -> None:
    article = _article(_numbered(40))
    passages = chunk_article(article, 150, 1)
    assert all(len(p.text) <= 150 for p in passages)
    _check_passages(article, passages, 150)


def test_sentence_longer_than_max_is_its_own_passage() -> None:
    long_sentence = "This sentence " + "goes on and on " * 10 + "until it ends."  # ~170 chars
    text = f"Short one. {long_sentence} Short two."
    article = _article(text)
    passages = chunk_article(article, 120, 1)
    assert long_sentence in [p.text for p in passages]
    _check_passages(article, passages, 120)


def test_very_long_sentence_is_cut_at_word_boundaries() -> None:
    words = [f"w{i:03d}" for i in range(200)]  # 999 chars, no sentence break
    text = " ".join(words)
    article = _article(text)
    passages = chunk_article(article, 100, 0)
    assert all(len(p.text) <= 100 for p in passages)
    assert " ".join(p.text for p in passages) == text  # cut only at spaces, nothing lost
    _check_passages(article, passages, 100)


def test_giant_word_is_cut_hard() -> None:
    text = "x" * 450
    passages = chunk_article(_article(text), 100, 1)
    assert [len(p.text) for p in passages] == [100, 100, 100, 100, 50]


def test_passage_prefers_to_end_at_paragraph_break() -> None:
    first = "First paragraph sentence one is here. First paragraph sentence two is here."  # 75 chars
    second = "Second paragraph begins. It continues."
    article = _article(f"{first}\n\n{second}")
    passages = chunk_article(article, 140, 0)
    assert [p.text for p in passages] == [first, second]


def test_small_paragraphs_are_merged() -> None:
    text = "One. Two.\n\nThree. Four.\n\nFive."
    passages = chunk_article(_article(text), 700, 1)
    assert [p.text for p in passages] == [text]


def test_overlap_that_does_not_fit_is_dropped() -> None:
    a, b = "A" * 60 + ".", "B" * 60 + "."
    passages = chunk_article(_article(f"{a} {b}"), 100, 1)
    assert [p.text for p in passages] == [a, b]


def test_empty_article_text_gives_no_passages() -> None:
    assert chunk_article(_article(""), 700, 1) == []


def test_chunking_is_deterministic() -> None:
    article = _article(SEED_TEXTS[2])
    assert chunk_article(article, 300, 1) == chunk_article(article, 300, 1)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        chunk_article(_article("Hi."), 0, 1)


def test_seed_passage_count_is_reasonable() -> None:
    for text in SEED_TEXTS:
        passages = chunk_article(_article(text), 700, 1)
        assert len(text) / 700 <= len(passages) <= 2.5 * len(text) / 700 + 1
        assert not any(re.search(r"\n\n\n", p.text) for p in passages)
