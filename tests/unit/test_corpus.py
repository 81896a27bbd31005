"""Scanning a corpus folder and turning files into Articles."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import pytest

from evals.corpora import bbc_csv_path, seeds_dir, write_bbc_articles
from rag.errors import CorpusError
from rag.ingest import scan
from rag.ingest.load import load_article
from rag.ingest.scan import LINK_REFUSED, SUPPORTED_SUFFIXES, FileProblem, SourceFile, article_id_for, scan_corpus
from rag.types import Article

LIMIT = 10_000_000
BODY = "The council approved the budget on Monday after a long debate about library closures."


def _write(root: Path, relative: str, content: bytes | str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _load(root: Path, relative: str, content: bytes | str) -> Article:
    _write(root, relative, content)
    files, problems = scan_corpus(root, LIMIT)
    assert not problems
    (file,) = [f for f in files if f.source == relative]
    return load_article(file)


# --- scanning ---------------------------------------------------------------


def test_scan_recurses_sorts_and_skips_hidden_and_unsupported(tmp_path: Path) -> None:
    for relative in ["b.txt", "a/z.md", "a/b/c.html", "A.htm", "n.markdown", "x.pdf", "notes.docx", "README"]:
        _write(tmp_path, relative, BODY)
    for relative in [".hidden.txt", ".git/config.txt", "a/.cache/d.txt"]:
        _write(tmp_path, relative, BODY)
    files, problems = scan_corpus(tmp_path, LIMIT)
    assert [f.source for f in files] == ["A.htm", "a/b/c.html", "a/z.md", "b.txt", "n.markdown"]
    assert problems == []
    first = files[0]
    assert first.path == tmp_path / "A.htm"
    assert first.size == len(BODY)
    assert first.content_hash == hashlib.sha256(BODY.encode()).hexdigest()


def test_scan_suffix_match_ignores_case(tmp_path: Path) -> None:
    _write(tmp_path, "LOUD.TXT", BODY)
    assert [f.source for f in scan_corpus(tmp_path, LIMIT)[0]] == ["LOUD.TXT"]


def test_supported_suffixes() -> None:
    assert SUPPORTED_SUFFIXES == (".txt", ".md", ".markdown", ".html", ".htm")


def test_oversize_file_is_a_problem(tmp_path: Path) -> None:
    with (tmp_path / "big.txt").open("wb") as handle:
        handle.truncate(52_400_000)  # sparse: the size is all that matters
    _write(tmp_path, "ok.txt", BODY)
    files, problems = scan_corpus(tmp_path, 10_000_000)
    assert [f.source for f in files] == ["ok.txt"]
    assert problems == [
        FileProblem("big.txt", "too large: 52.4 MB > limit 10 MB; raise RAG_MAX_FILE_BYTES to include it")
    ]


def test_unreadable_and_vanished_files_are_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("locked.txt", "gone.txt", "ok.txt"):
        _write(tmp_path, name, BODY)
    real_read = scan.read_article_bytes

    def read(path: Path, limit: int) -> bytes:  # root reads a chmod-000 file, so the refusal is simulated
        if path.name == "locked.txt":
            raise PermissionError(13, "Permission denied")
        if path.name == "gone.txt":
            raise FileNotFoundError(2, "No such file or directory")
        return real_read(path, limit)

    monkeypatch.setattr(scan, "read_article_bytes", read)
    files, problems = scan_corpus(tmp_path, LIMIT)
    assert [f.source for f in files] == ["ok.txt"]
    assert problems == [
        FileProblem("gone.txt", "vanished while the corpus was being scanned"),
        FileProblem("locked.txt", "cannot read: Permission denied"),
    ]


def test_symbolic_links_are_never_followed(tmp_path: Path) -> None:
    corpus, outside = tmp_path / "corpus", tmp_path / "private"
    _write(corpus, "real.txt", BODY)
    secret = _write(outside, ".env", "OPENAI_API_KEY=sk-secret-123")
    (corpus / "leak.txt").symlink_to(secret)  # ln -s ../private/.env corpus/leak.txt
    (corpus / "again.txt").symlink_to(corpus / "real.txt")  # even inside the folder: one article, one file
    (corpus / "shelf").symlink_to(outside, target_is_directory=True)
    files, problems = scan_corpus(corpus, LIMIT)
    assert [f.source for f in files] == ["real.txt"]
    assert problems == [FileProblem("again.txt", LINK_REFUSED), FileProblem("leak.txt", LINK_REFUSED)]


def test_a_file_swapped_for_a_link_after_the_scan_is_refused_when_read(tmp_path: Path) -> None:
    path = _write(tmp_path / "corpus", "a.txt", BODY)
    secret = _write(tmp_path, "secret.txt", "The password is hunter2, said the admin of the council.")
    (file,) = scan_corpus(tmp_path / "corpus", LIMIT)[0]
    path.unlink()
    path.symlink_to(secret)
    with pytest.raises(CorpusError, match="a symbolic link: skipped"):
        load_article(file, LIMIT)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_file_whose_size_says_zero_is_still_cut_at_the_limit() -> None:
    assert Path("/proc/self/status").stat().st_size == 0  # what the size check alone would let through
    with pytest.raises(scan.TooLargeError, match="over the limit of 10 bytes"):
        scan.read_article_bytes(Path("/proc/self/status"), 10)


def test_missing_corpus_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(CorpusError, match=r"^Corpus folder not found: .*nope \(set RAG_CORPUS_DIR or pass --corpus\)$"):
        scan_corpus(missing, LIMIT)


def test_corpus_path_that_is_a_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "file.txt", BODY)
    with pytest.raises(CorpusError, match="Corpus folder not found"):
        scan_corpus(path, LIMIT)


def test_scan_of_a_thousand_files_is_fast(tmp_path: Path) -> None:
    for i in range(1000):
        _write(tmp_path, f"d{i % 10}/{i:04d}.txt", f"{BODY} Article {i}.")
    started = time.perf_counter()
    files, _ = scan_corpus(tmp_path, LIMIT)
    assert len(files) == 1000
    assert time.perf_counter() - started < 1.0


# --- ids and determinism ------------------------------------------------------


def test_article_ids_are_stable_and_path_based() -> None:
    assert article_id_for("politics/a.txt") == hashlib.sha256(b"politics/a.txt").hexdigest()[:16]
    assert article_id_for("politics/a.txt") != article_id_for("politics/b.txt")
    assert len(article_id_for("x.txt")) == 16


def test_load_is_deterministic_and_hashes_the_bytes(tmp_path: Path) -> None:
    raw = f"{BODY}\nCritics said the cuts went too far.\n"
    first = _load(tmp_path, "n/a.txt", raw)
    second = load_article(SourceFile(tmp_path / "n/a.txt", "n/a.txt", 0, "ignored"))
    assert first == second
    assert first.id == article_id_for("n/a.txt")
    assert first.content_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert first.source == "n/a.txt"


# --- encodings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("The minister said “we will act” – it costs £11bn, the café’s owner said.", "cp1252"),
        ("Le café est fermé. Les élèves sont partis à midi.", "latin-1"),
        ("The café in the town centre was closed on Monday, the owner said.", "latin-1"),
        ("The minister said “we will act” – it costs £11bn.", "utf-16"),  # Python writes the BOM
        ("\ufeffThe minister said “we will act” – it costs £11bn.", "utf-16-le"),
        ("\ufeffThe minister said “we will act” – it costs £11bn.", "utf-8"),
        ("Совет утвердил бюджет в понедельник после долгих дебатов о закрытии библиотек.", "cp1251"),
    ],
    ids=["cp1252", "latin-1", "latin-1-english", "utf-16-bom", "utf-16-le-bom", "utf-8-bom", "cp1251"],
)
def test_encodings(tmp_path: Path, text: str, encoding: str) -> None:
    article = _load(tmp_path, "a.txt", text.encode(encoding))
    assert article.text == text.lstrip("\ufeff")


def test_utf16_be_with_bom(tmp_path: Path) -> None:
    text = "Le café est fermé, said the owner."
    assert _load(tmp_path, "a.txt", b"\xfe\xff" + text.encode("utf-16-be")).text == text


def test_binary_file_with_txt_suffix(tmp_path: Path) -> None:
    data = b"%PDF-1.4\n" + bytes(range(256)) * 8
    with pytest.raises(CorpusError, match=r"^doc\.txt: looks like a binary file, not text$"):
        _load(tmp_path, "doc.txt", data)


def test_binary_without_nul_bytes(tmp_path: Path) -> None:
    data = bytes(b for b in range(1, 256) for _ in range(4))
    with pytest.raises(CorpusError, match="looks like a binary file"):
        _load(tmp_path, "noise.txt", data)


@pytest.mark.parametrize("content", [b"", b"   \n\t\n", b"\xef\xbb\xbf\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(CorpusError, match=r"^empty\.txt: empty file$"):
        _load(tmp_path, "empty.txt", content)


def test_nothing_left_after_cleaning(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"^furniture\.txt: no article text left"):
        _load(tmp_path, "furniture.txt", "-\n***\n(c) Sky News 2025\n")


def test_vanished_before_loading(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.txt", BODY)
    (file,) = scan_corpus(tmp_path, LIMIT)[0]
    path.unlink()
    with pytest.raises(CorpusError, match=r"^a\.txt: cannot read file"):
        load_article(file)


# --- HTML -----------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head>
<title>PM warns leaders | Sky News</title>
<meta property="og:site_name" content="Sky News">
<meta property="article:publisher" content="https://www.facebook.com/skynews">
<meta property="article:published_time" content="2025-12-10T08:30:00Z">
<link rel="canonical" href="https://news.sky.com/story/pm-warns">
<style>p { color: red }</style>
<script>var tracking = "Read this now";</script>
</head><body>
<nav><a href="/">Home</a> <a href="/uk">UK</a> <a href="/politics">Politics</a></nav>
<article>
<h1>PM warns leaders</h1>
<p>Sir Keir Starmer has <b>called</b> for a tougher approach to <a href="/echr">Europe's</a> borders.</p>
<div><p>The prime minister said the ECHR must be modernised &amp; reformed.</p></div>
<h2>What happens next?</h2>
<ul><li>Ministers meet today</li><li>A declaration follows</li><li>Courts decide</li></ul>
<noscript>Please enable JavaScript</noscript>
<form><input name="email"> Sign up to our newsletter</form>
<p>He said “no” to leaving.</p>
</article>
<aside>Most read: Storm Bram brings 90mph winds</aside>
<footer>© Sky UK. All rights reserved.</footer>
<template><p>Hidden template text.</p></template>
</body></html>
"""


def test_html_page(tmp_path: Path) -> None:
    article = _load(tmp_path, "news/pm.html", PAGE)
    assert article.text.split("\n\n") == [
        "PM warns leaders",
        "Sir Keir Starmer has called for a tougher approach to Europe's borders.",
        "The prime minister said the ECHR must be modernised & reformed.",
        "What happens next?",
        "• Ministers meet today",
        "• A declaration follows",
        "• Courts decide",
        "He said “no” to leaving.",
    ]
    assert article.title == "PM warns leaders"
    assert article.publisher == "Sky News"
    assert article.date == "2025-12-10"
    assert article.url == "https://news.sky.com/story/pm-warns"
    for junk in ("tracking", "Home", "Most read", "enable JavaScript", "newsletter", "All rights", "template"):
        assert junk not in article.text


def test_html_og_title_and_time_tag(tmp_path: Path) -> None:
    page = (
        '<html><head><title>Site title</title><meta property="og:title" content="Real headline">'
        '<meta property="og:url" content="https://example.org/a"></head>'
        f'<body><p>{BODY}</p><p>Published <time datetime="2024-03-05">5 March</time>.</p></body></html>'
    )
    article = _load(tmp_path, "a.htm", page)
    assert (article.title, article.date, article.url) == ("Real headline", "2024-03-05", "https://example.org/a")


def test_html_content_in_a_txt_file_is_detected(tmp_path: Path) -> None:
    page = f"<!doctype html>\n<html><head><title>T</title><script>x()</script></head><body><p>{BODY}</p></body></html>"
    article = _load(tmp_path, "saved.txt", page)
    assert article.text == BODY
    assert article.title == "T"


def test_html_without_text_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no article text left"):
        _load(tmp_path, "empty.html", "<html><body><script>x()</script><nav>Home</nav></body></html>")


def test_deeply_nested_html(tmp_path: Path) -> None:
    page = "<html><body>" + "<div>" * 3000 + f"<p>{BODY}</p>" + "</div>" * 3000 + "</body></html>"
    assert _load(tmp_path, "deep.html", page).text == BODY


# --- Markdown -------------------------------------------------------------------

MARKDOWN = """---
title: "Storm Bram hits the west"
source: BBC News
date: 9 December 2025
url: https://www.bbc.co.uk/news/storm
tags: [weather]
---

# Storm Bram hits the west

Heavy **rain** and [90mph winds](https://example.org/winds) are
expected across the _west_ of the country today.

## Warnings

- Travel disruption is likely
- Power cuts are possible

![A flooded street](flood.jpg)
The Met Office said: "Stay *safe* and `avoid` travel."

[1]: https://example.org/ref
"""


def test_markdown_with_front_matter(tmp_path: Path) -> None:
    article = _load(tmp_path, "storm.md", MARKDOWN)
    assert article.text.split("\n\n") == [
        "Heavy rain and 90mph winds are expected across the west of the country today.",
        "Warnings",
        "• Travel disruption is likely",
        "• Power cuts are possible",
        'The Met Office said: "Stay safe and avoid travel."',
    ]
    assert article.title == "Storm Bram hits the west"
    assert article.publisher == "BBC News"
    assert article.date == "2025-12-09"
    assert article.url == "https://www.bbc.co.uk/news/storm"


def test_markdown_heading_becomes_title(tmp_path: Path) -> None:
    article = _load(tmp_path, "a.markdown", f"# Budget approved\n\n{BODY}\n")
    assert article.title == "Budget approved"
    assert article.text == BODY


def test_markdown_keeps_snake_case_and_arithmetic(tmp_path: Path) -> None:
    text = "The file_name_here field was set to 2 * 3 * 4 by the council."
    assert _load(tmp_path, "a.md", text).text == text


# --- titles and seeds -------------------------------------------------------------


def test_title_falls_back_to_first_sentence(tmp_path: Path) -> None:
    article = _load(tmp_path, "short.txt", "Budget approved. " + BODY)
    assert article.title == "Budget approved."


def test_long_first_sentence_title_is_cut_at_a_word(tmp_path: Path) -> None:
    seed = seeds_dir() / "000_f14baaa9ae4bf647.txt"
    article = _load(tmp_path, "000.txt", seed.read_bytes())
    assert article.title == "Keir Starmer ruled out quitting the ECHR because it would jeopardise deportation deals…"
    assert len(article.title) <= 91


def test_seed_folder_loads() -> None:
    files, problems = scan_corpus(seeds_dir(), LIMIT)
    assert problems == []
    assert [f.source for f in files] == sorted(p.name for p in seeds_dir().glob("*.txt"))
    articles = [load_article(f) for f in files]
    sky = articles[2]
    assert sky.title == "PM issues warning to European leaders ahead of ECHR talks"
    assert (sky.publisher, sky.date, sky.url) == ("Sky News", "2025", None)
    assert articles[1].title.startswith("Sir Keir Starmer has urged Europe’s leaders")
    assert all(a.text and "\n\n\n" not in a.text for a in articles)


# --- evals.corpora ----------------------------------------------------------------


@pytest.mark.skipif(not bbc_csv_path().exists(), reason="needs ../shared/corpora beside the repo")
def test_bbc_articles_and_copies(tmp_path: Path) -> None:
    assert write_bbc_articles(bbc_csv_path(), tmp_path / "one", copies=3, limit=4) == 12
    write_bbc_articles(bbc_csv_path(), tmp_path / "two", copies=3, limit=4)
    files, problems = scan_corpus(tmp_path / "one", LIMIT)
    assert problems == [] and len(files) == 12
    assert all(re.fullmatch(r"bbc/(sports|politics)/\d{4}(-copy00[12])?\.txt", f.source) for f in files)
    assert len({f.content_hash for f in files}) == 12  # copies differ from the original and each other
    again = {f.source: f.content_hash for f in scan_corpus(tmp_path / "two", LIMIT)[0]}
    assert again == {f.source: f.content_hash for f in files}  # deterministic
    assert all(load_article(f).text for f in files)
