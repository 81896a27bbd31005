"""Filters on real retrieval: an index of six articles whose publishers and dates come from their own
markup (Markdown front matter, HTML meta tags, none at all), searched with the real embedder and Chroma.
The app handler and the command line take the same filters."""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.answer.chain import build_chain
from rag.answer.retrieve import build_retriever, get_search
from rag.errors import FilterError
from rag.index.build import build_index
from rag.index.catalog import Catalog
from rag.settings import Settings
from rag.types import Filters, Retrieval
from tests.conftest import make_settings

pytestmark = pytest.mark.integration

LEVY = "What did the harbour minister say about the cruise ship levy?"

ARTICLES = {
    "sky-levy.md": (
        "---\ntitle: Harbour levy approved after long debate\npublisher: Sky News\ndate: 2025-05-12\n---\n\n"
        "The Zorbian parliament approved a levy on cruise ships on Monday after a debate that lasted all night.\n\n"
        "Harbour minister Elsa Quint told Sky News the cruise ship levy would pay for forty new lighthouse "
        "keepers along the northern coast.\n\n"
        "Fishing crews in the port of Vell said they welcomed the money but feared fewer tourists.\n"
    ),
    "guardian-levy.html": (
        "<!doctype html><html><head><title>Cruise levy divides coastal towns | The Guardian</title>"
        '<meta property="og:site_name" content="The Guardian">'
        '<meta property="article:published_time" content="2025-06-03T08:00:00Z"></head>'
        "<body><article><h1>Cruise levy divides coastal towns</h1>"
        "<p>A month after the vote, the harbour minister Elsa Quint said the cruise ship levy had already "
        "raised two million crowns for the lighthouse fund.</p>"
        "<p>Hoteliers in the southern bays said bookings from cruise passengers had fallen by a fifth.</p>"
        "</article></body></html>"
    ),
    "bbc-levy.md": (
        "---\ntitle: Lighthouse keepers return to the islands\npublisher: BBC News\ndate: 2025\n---\n\n"
        "The harbour minister said the cruise ship levy was a fair price for safe waters, the BBC was told.\n\n"
        "Twelve lighthouses on the outer islands will be staffed again for the first time in thirty years.\n"
    ),
    "undated-levy.txt": (
        "Harbour levy explained\n\n"
        "The harbour minister has defended the cruise ship levy, saying the ships use the lighthouses more "
        "than anyone else does.\n\n"
        "The levy is charged per passenger and collected by the port authorities each month.\n"
    ),
    "guardian-ferries.md": (
        "---\ntitle: Ferry timetable cut for winter\npublisher: The Guardian\ndate: sometime last spring\n---\n\n"
        "The island ferry company will cut its winter timetable to two sailings a day from November.\n\n"
        "Passengers complained that the last ferry now leaves before the evening trains arrive.\n"
    ),
    "sky-ferries.md": (
        "---\ntitle: Ferry strike called off\npublisher: sky news\ndate: 2024-11-20\n---\n\n"
        "A ferry strike planned for the holiday weekend was called off after the crews accepted a new pay offer.\n\n"
        "The harbour minister had urged both sides to settle before the holiday traffic began.\n"
    ),
}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("filters")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in ARTICLES.items():
        (corpus / name).write_text(text)
    built = make_settings(root, corpus)
    report = build_index(built)
    assert not report.problems, report.problems
    return built


@pytest.fixture(scope="module")
def ids(settings: Settings) -> dict[str, str]:
    """File name -> article id."""
    return {row["source"]: row["id"] for row in Catalog(Path(settings.index_dir)).list_articles()}  # type: ignore[misc]


def sources(retrieval: Retrieval) -> set[str]:
    return {p.source for p in retrieval.passages}


def test_the_articles_carry_the_publishers_and_dates_of_their_markup(settings: Settings) -> None:
    rows = {r["source"]: (r["publisher"], r["date"]) for r in Catalog(Path(settings.index_dir)).list_articles()}
    assert rows == {
        "sky-levy.md": ("Sky News", "2025-05-12"),
        "guardian-levy.html": ("The Guardian", "2025-06-03"),
        "bbc-levy.md": ("BBC News", "2025"),
        "undated-levy.txt": (None, None),
        "guardian-ferries.md": ("The Guardian", "sometime last spring"),
        "sky-ferries.md": ("sky news", "2024-11-20"),
    }


def test_without_filters_every_article_is_searched(settings: Settings) -> None:
    found = get_search(settings).retrieve(LEVY, 10)
    assert {"sky-levy.md", "guardian-levy.html", "bbc-levy.md", "undated-levy.txt"} <= sources(found)
    assert found.filters is None and found.articles_matching is None and found.filter_note() is None


def test_filters_none_or_empty_change_nothing(settings: Settings) -> None:
    search = get_search(settings)
    for question in (LEVY, "Why was the ferry strike called off?"):
        before = search.retrieve(question, 6)
        for same in (search.retrieve(question, 6, None), search.retrieve(question, 6, Filters())):
            assert same.passages == before.passages and same.filters is None
            assert np.array_equal(same.question_vector, before.question_vector)
            assert same.sentences.keys() == before.sentences.keys()
            assert all(np.array_equal(same.sentences[k].vectors, before.sentences[k].vectors) for k in same.sentences)


def test_a_filter_every_article_passes_ranks_exactly_as_no_filter(settings: Settings, ids: dict[str, str]) -> None:
    search = get_search(settings)
    everything = Filters(article_ids=tuple(ids.values()))
    for question in (LEVY, "Why was the ferry strike called off?"):
        assert search.retrieve(question, 6, everything).passages == search.retrieve(question, 6).passages


def test_a_publisher_filter_returns_only_that_publishers_passages(settings: Settings) -> None:
    search = get_search(settings)
    sky = search.retrieve(LEVY, 10, Filters(publishers=("SKY  news",)))
    assert sources(sky) == {"sky-levy.md", "sky-ferries.md"}  # "sky news" and "Sky News" are one publisher
    assert sky.filters == Filters(publishers=("Sky News",))  # spelled as most of its articles spell it
    assert (sky.articles_matching, sky.articles_total, sky.undated_excluded) == (2, 6, 0)
    assert sky.filter_note() == "Filtered: Sky News · 2 of 6 articles"
    assert "Elsa Quint told Sky News" in sky.passages[0].text  # the best of what is left comes first
    both = search.retrieve(LEVY, 10, Filters(publishers=("Sky News", "The Guardian")))
    assert sources(both) <= {"sky-levy.md", "sky-ferries.md", "guardian-levy.html", "guardian-ferries.md"}
    assert "guardian-levy.html" in sources(both)


def test_a_date_range_keeps_what_may_fall_in_it_and_counts_the_undated_it_left_out(settings: Settings) -> None:
    may = get_search(settings).retrieve(LEVY, 10, Filters.parse({"since": "2025-05", "until": "2025-05"}))
    # 2025-05-12 falls in May; "2025" may be May; June, November 2024 and the undated two do not pass.
    assert sources(may) == {"sky-levy.md", "bbc-levy.md"}
    assert (may.articles_matching, may.undated_excluded) == (2, 2)  # no date, and "sometime last spring"
    assert may.filter_note() == "Filtered: 2025-05-01 to 2025-05-31 · 2 of 6 articles · 2 undated excluded"
    since = get_search(settings).retrieve(LEVY, 10, Filters.parse({"since": "2025-06-01"}))
    assert sources(since) == {"guardian-levy.html", "bbc-levy.md"}


def test_undated_articles_are_searched_unless_a_date_is_set(settings: Settings) -> None:
    search = get_search(settings)
    assert "undated-levy.txt" in sources(search.retrieve(LEVY, 10))
    assert "undated-levy.txt" in sources(search.retrieve(LEVY, 10, Filters(publishers=())))
    assert "undated-levy.txt" not in sources(search.retrieve(LEVY, 10, Filters.parse({"until": "2030"})))


def test_article_ids_restrict_to_those_articles(settings: Settings, ids: dict[str, str]) -> None:
    chosen = Filters(article_ids=(ids["undated-levy.txt"], ids["guardian-ferries.md"]))
    found = get_search(settings).retrieve(LEVY, 10, chosen)
    assert sources(found) == {"undated-levy.txt", "guardian-ferries.md"}
    # Combined with a publisher: only what passes both.
    both = get_search(settings).retrieve(LEVY, 10, chosen.model_copy(update={"publishers": ("The Guardian",)}))
    assert sources(both) == {"guardian-ferries.md"}


def test_an_impossible_range_is_an_empty_result_and_a_refusal_naming_the_filters(settings: Settings) -> None:
    search = get_search(settings)
    for filters in (Filters.parse({"publisher": "Sky News", "since": "2026-01-01"}),
                    Filters.parse({"since": "2025-06-01", "until": "2025-05-01"}),
                    Filters.parse({"publisher": "Le Monde"})):
        found = search.retrieve(LEVY, 5, filters)
        assert found.passages == () and found.articles_matching == 0 and found.articles_total == 6
    answer = build_chain(settings).invoke({"question": LEVY, "filters": {"publisher": "Sky News", "since": "2026"}})
    assert answer.refused and answer.refused_at == "filters" and answer.passages == ()
    assert answer.refusal_reason == "no article matches the filters (Sky News, since 2026-01-01)"


def test_the_chain_answers_from_the_filtered_articles_only(settings: Settings) -> None:
    answer = build_chain(settings).invoke({"question": LEVY, "filters": {"publisher": "The Guardian"}})
    assert not answer.refused and answer.citations
    assert {c.source for c in answer.citations} <= {"guardian-levy.html", "guardian-ferries.md"}
    assert answer.filter_note == "Filtered: The Guardian · 2 of 6 articles"
    assert json.loads(answer.model_dump_json())["filters"]["publishers"] == ["The Guardian"]


def test_the_langchain_retriever_takes_filters(settings: Settings) -> None:
    retriever = build_retriever(settings, k=5, filters={"publisher": "BBC News"})
    assert {d.metadata["source"] for d in retriever.invoke(LEVY)} == {"bbc-levy.md"}
    per_call = retriever.invoke(LEVY, filters={"since": "2025-06"})
    assert {d.metadata["source"] for d in per_call} == {"guardian-levy.html", "bbc-levy.md"}
    with pytest.raises(FilterError, match="filters.since"):
        build_retriever(settings, filters={"since": "soon"})


def test_the_dense_side_gives_the_same_passages_however_it_restricts(
    settings: Settings, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over-fetching, its fallback and a `where` in slices all find the filtered query's nearest passages."""
    from rag.answer import retrieve
    from rag.index import vectors
    from rag.index.handle import Index

    index = Index.open(settings)
    store, vector = index.vectors, get_search(settings).encode([LEVY])[0]
    match = index.facets().match(Filters(article_ids=(ids["sky-levy.md"], ids["guardian-levy.html"],
                                                      ids["undated-levy.txt"])))
    exact = [hit.passage_id for hit in store.query(vector, 2, match.article_ids())]
    assert len(exact) == 2  # of their three passages
    monkeypatch.setattr(vectors, "_WHERE_CHUNK", 1)  # one query per article, merged
    assert [hit.passage_id for hit in store.query(vector, 2, match.article_ids())] == exact
    monkeypatch.setattr(retrieve, "_OVERFETCH_SHARE", 0.0)
    monkeypatch.setattr(retrieve, "_OVERFETCH_FACTOR", 100.0)  # the plain query sees every passage
    assert [hit.passage_id for hit in retrieve._dense(store, vector, 2, match)] == exact
    monkeypatch.setattr(retrieve, "_OVERFETCH_FACTOR", 0.01)  # it sees one: too few pass, the filter runs
    assert [hit.passage_id for hit in retrieve._dense(store, vector, 2, match)] == exact


def test_a_reindexed_catalog_is_filtered_afresh(settings: Settings, tmp_path: Path) -> None:
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(settings.corpus_dir, corpus)
    moved = settings.model_copy(update={"corpus_dir": corpus, "index_dir": tmp_path / "index"})
    shutil.copytree(settings.index_dir, moved.index_dir)
    reuters = Filters(publishers=("Reuters",))
    assert get_search(moved).retrieve(LEVY, 5, reuters).passages == ()
    (corpus / "reuters.md").write_text("---\npublisher: Reuters\ndate: 2025-07-01\n---\n\n"
                                       "The harbour minister said the cruise ship levy will rise next year.\n")
    build_index(moved)
    assert sources(get_search(moved).retrieve(LEVY, 5, reuters)) == {"reuters.md"}


# --- the app's chat handler -------------------------------------------------------------


def test_the_chat_handler_applies_the_filter_row_and_shows_the_note(settings: Settings) -> None:
    from rag.web.state import RagApp

    app = RagApp(settings)
    assert app.publisher_choices()[0] == ("Sky News (2)", "Sky News")
    assert {value for _, value in app.publisher_choices()} == {"Sky News", "The Guardian", "BBC News"}
    updates = list(app.respond(LEVY, [], [], None, 0, ["BBC News"], "", ""))
    chat, views = updates[-1][0], updates[-1][2]
    assert "Filtered: BBC News · 1 of 6 articles" in html.unescape(chat[-1]["content"])
    assert {p.source for p in views[-1].answer.passages} == {"bbc-levy.md"}
    refused = html.unescape(list(app.respond(LEVY, [], [], None, 0, [], "2026-01-01", ""))[-1][0][-1]["content"])
    assert "rag-refusal" in refused and "no article matches the filters (since 2026-01-01)" in refused
    assert "Filtered: since 2026-01-01 · 0 of 6 articles · 2 undated excluded" in refused
    wrong = html.unescape(list(app.respond(LEVY, [], [], None, 0, [], "next week", ""))[-1][0][-1]["content"])
    assert "rag-error" in wrong and "Since must be a date like 2025-05-31 (or 2025-05, 2025), not 'next week'." in wrong


# --- the command line -------------------------------------------------------------------


def rag(*args: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env["RAG_BACKEND"] = "extractive"
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args, "--index", str(settings.index_dir), "--corpus",
         str(settings.corpus_dir)], env=env, input="", capture_output=True, text=True, timeout=300, check=False,
    )


def test_rag_search_with_a_publisher_returns_only_that_publishers_passages(settings: Settings) -> None:
    done = rag("search", LEVY, "--publisher", "Sky News", "--json", "--k", "10", settings=settings)
    assert done.returncode == 0, done.stderr
    assert {hit["publisher"].casefold() for hit in json.loads(done.stdout)} == {"sky news"}
    text = rag("search", LEVY, "--publisher", "BBC News", "--publisher", "the guardian", "--since", "2025",
               settings=settings)
    assert text.stdout.startswith("Filtered: BBC News or The Guardian, since 2025-01-01 · 2 of 6 articles · "
                                  "1 undated excluded\n\n1. ")
    assert "sky-levy.md" not in text.stdout and "guardian-levy.html" in text.stdout


def test_rag_search_and_ask_with_an_impossible_range_say_so_plainly(settings: Settings) -> None:
    done = rag("search", LEVY, "--since", "2025-06-01", "--until", "2025-05-01", settings=settings)
    assert done.returncode == 0, done.stderr
    assert ("No passage matches: no article matches the filters (2025-06-01 to 2025-05-01); "
            "the dates also left out 2 undated articles.") in done.stdout
    assert json.loads(rag("search", LEVY, "--publisher", "Le Monde", "--json", settings=settings).stdout) == []
    asked = rag("ask", LEVY, "--publisher", "Sky News", "--since", "2026", "--json", settings=settings)
    answer = json.loads(asked.stdout)
    assert answer["refused"] and answer["refused_at"] == "filters"
    text = rag("ask", LEVY, "--publisher", "Sky News", "--since", "2026", settings=settings).stdout
    assert "Why: no article matches the filters (Sky News, since 2026-01-01)" in text


def test_rag_ask_with_article_ids(settings: Settings, ids: dict[str, str]) -> None:
    done = rag("ask", LEVY, "--article", ids["undated-levy.txt"], "--json", settings=settings)
    answer = json.loads(done.stdout)
    assert not answer["refused"] and {c["source"] for c in answer["citations"]} == {"undated-levy.txt"}
    assert answer["filter_note"] == "Filtered: article " + ids["undated-levy.txt"] + " · 1 of 6 articles"


@pytest.mark.parametrize(("args", "message"), [
    (("search", LEVY, "--since", "last May"),
     "Error: --since must be a date like 2025-05-31 (or 2025-05, 2025), not 'last May'."),
    (("ask", LEVY, "--until", "2025-13"), "Error: --until must be a date like 2025-05-31"),
    (("chat", "--since", "soon"), "Error: --since must be a date like"),
])
def test_a_bad_filter_option_is_one_line_and_exit_1(settings: Settings, args: tuple[str, ...], message: str) -> None:
    done = rag(*args, settings=settings)
    assert done.returncode == 1 and message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
