"""Retrieval filters: what a client may send (every mistake is one clear line), the days a stored date
covers, and the index's vectorised match agreeing with the rules of ``Filters.admits``."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.dates import date_span
from rag.errors import FilterError, QuestionError
from rag.index.facets import ArticleFacets
from rag.types import Filters, Retrieval
from rag.web.state import api_filters

D = dt.date


# --- the days a stored date covers ----------------------------------------------


@pytest.mark.parametrize(("text", "span"), [
    ("2025", (D(2025, 1, 1), D(2025, 12, 31))),
    ("2025-05", (D(2025, 5, 1), D(2025, 5, 31))),
    ("2024-02", (D(2024, 2, 1), D(2024, 2, 29))),  # a leap year's February
    ("2025-02", (D(2025, 2, 1), D(2025, 2, 28))),
    ("2025-05-12", (D(2025, 5, 12), D(2025, 5, 12))),
    ("2025-5-1", (D(2025, 5, 1), D(2025, 5, 1))),
    (" 2025-05-12T10:00:00 ", (D(2025, 5, 12), D(2025, 5, 12))),
    ("2025-05-12T23:30:00+01:00", (D(2025, 5, 12), D(2025, 5, 12))),
])
def test_a_stored_date_covers_the_days_of_its_period(text: str, span: tuple[D, D]) -> None:
    assert date_span(text) == span


@pytest.mark.parametrize("text", [None, "", "  ", "last May", "12 May 2025", "2025-13", "2025-02-30", "0000",
                                  "20251", "May 2025"])
def test_a_date_that_cannot_be_read_covers_nothing(text: str | None) -> None:
    assert date_span(text) is None


# --- Filters.parse: what a client may send ----------------------------------------


def test_no_filters_is_none() -> None:
    assert Filters.parse(None) is None
    assert Filters.parse({}) is None
    assert Filters.parse(Filters()) is None
    assert Filters.parse({"publisher": "", "since": None, "until": "  ", "article_ids": []}) is None


def test_partial_dates_mean_the_start_or_the_end_of_their_period() -> None:
    found = Filters.parse({"since": "2025-05", "until": "2025"})
    assert found == Filters(since=D(2025, 5, 1), until=D(2025, 12, 31))
    assert Filters.parse({"since": "2025", "until": "2025-02"}) == Filters(since=D(2025, 1, 1), until=D(2025, 2, 28))
    assert Filters.parse({"since": D(2025, 5, 3), "until": dt.datetime(2025, 6, 1, 12)}) == Filters(
        since=D(2025, 5, 3), until=D(2025, 6, 1))


def test_publishers_are_one_name_or_a_list_tidied_and_compared_case_insensitively() -> None:
    assert Filters.parse({"publisher": " Sky   News "}) == Filters(publishers=("Sky News",))
    found = Filters.parse({"publisher": ["Sky News", "sky news", "The Guardian", ""]})
    assert found is not None and found.publishers == ("Sky News", "The Guardian")
    # The field's own name parses too, so a dumped Filters reads back.
    dumped = Filters(publishers=("BBC",), since=D(2025, 1, 1), article_ids=("a1",)).model_dump(mode="json")
    assert Filters.parse(dumped) == Filters(publishers=("BBC",), since=D(2025, 1, 1), article_ids=("a1",))


def test_a_filters_record_passes_through() -> None:
    chosen = Filters(article_ids=("a1", "a2"))
    assert Filters.parse(chosen) is chosen


def test_an_impossible_range_is_not_an_error() -> None:
    found = Filters.parse({"since": "2025-06-01", "until": "2025-05-01"})
    assert found is not None and found.since > found.until  # type: ignore[operator]


@pytest.mark.parametrize(("value", "message"), [
    ({"since": "last May"}, "filters.since must be a date like 2025-05-31 (or 2025-05, 2025), not 'last May'."),
    ({"until": "2025-13"}, "filters.until must be a date like 2025-05-31 (or 2025-05, 2025), not '2025-13'."),
    ({"until": "2025-02-30"}, "filters.until must be a date like 2025-05-31"),
    ({"since": 2025}, "filters.since must be a date like 2025-05-31 (or 2025-05, 2025), not 2025."),
    ({"since": ["2025"]}, "filters.since must be a date like"),
    ({"publisher": 42}, 'filters.publisher must be a publisher\'s name or a list of names, like "Sky News", not 42.'),
    ({"publisher": ["Sky News", None]}, "filters.publisher must be a publisher's name or a list of names"),
    ({"publisher": {"name": "x"}}, "filters.publisher must be"),
    ({"article_ids": "a1"},
     """filters.article_ids must be a list of article ids, like ["000_f14baaa9ae4bf647"], not 'a1'."""),
    ({"article_ids": [1, 2]}, "filters.article_ids must be a list of article ids"),
    ({"region": "Wales"}, "filters.region is not a filter: use publisher, since, until or article_ids."),
    ({"bad\nkey": 1}, "filters.bad key is not a filter"),
    ({"since": "x" * 500}, "not 'xxxxxxxx"),
    (["Sky News"], "filters must be an object with the keys publisher, since, until or article_ids, not list."),
    ("Sky News", "filters must be an object with the keys publisher, since, until or article_ids, not str."),
])
def test_each_mistake_is_one_line_naming_the_field_and_its_form(value: object, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        Filters.parse(value)
    assert str(caught.value).startswith(message) or message in str(caught.value), str(caught.value)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200
    assert isinstance(caught.value, QuestionError)  # the API and the app show it as the client's mistake


def test_labels_name_the_fields_as_the_caller_does() -> None:
    with pytest.raises(FilterError, match=r"^--since must be a date like 2025-05-31"):
        Filters.parse({"since": "May"}, labels={"since": "--since"})
    with pytest.raises(FilterError, match=r"^--article must be a list of article ids"):
        Filters.parse({"article_ids": 3}, labels={"article_ids": "--article"})


def test_describe() -> None:
    assert Filters(publishers=("Sky News",), since=D(2025, 5, 1), until=D(2025, 5, 31)).describe() == (
        "Sky News, 2025-05-01 to 2025-05-31")
    assert Filters(publishers=("Sky News", "BBC")).describe() == "Sky News or BBC"
    assert Filters(since=D(2026, 1, 1)).describe() == "since 2026-01-01"
    assert Filters(until=D(2025, 1, 1)).describe() == "until 2025-01-01"
    assert Filters(since=D(2025, 1, 1), until=D(2025, 1, 1)).describe() == "on 2025-01-01"
    assert Filters(article_ids=("a1",)).describe() == "article a1"
    assert Filters(article_ids=("a1", "a2"), publishers=("BBC",)).describe() == "BBC, 2 chosen articles"


# --- which articles pass ------------------------------------------------------------


MAY = Filters(since=D(2025, 5, 1), until=D(2025, 5, 31))


@pytest.mark.parametrize(("date", "kept"), [
    ("2025", True),  # the year may be May: kept
    ("2025-05", True),
    ("2025-05-31T23:00:00", True),
    ("2025-06-01", False),
    ("2025-04", False),
    ("2024", False),
    (None, False),  # undated: a date filter leaves it out
    ("sometime last spring", False),  # unreadable: undated
])
def test_a_date_is_kept_when_the_days_it_covers_overlap_the_range(date: str | None, kept: bool) -> None:
    assert MAY.admits("a1", None, date) is kept
    assert Filters(publishers=("x",)).admits("a1", "X", date)  # without dates, every date passes


def test_publishers_and_ids_all_apply() -> None:
    both = Filters(publishers=("sky news",), article_ids=("a1",))
    assert both.admits("a1", "Sky  News", None)
    assert not both.admits("a2", "Sky News", None) and not both.admits("a1", "BBC", None)
    assert not both.admits("a1", None, None)


ARTICLES = [
    ("a1", "Sky News", "2025"),
    ("a2", "sky news", "2025-05-12"),
    ("a3", "The Guardian", "2025-06-03T08:00:00"),
    ("a4", None, None),
    ("a5", "The Guardian", "some day"),
    ("a6", "BBC News", "2024-11"),
]
PASSAGES = [(f"{aid}-{n}", aid) for aid, _, _ in ARTICLES for n in range(2)] + [("orphan-0", "gone")]


@pytest.fixture
def facets() -> ArticleFacets:
    return ArticleFacets(ARTICLES, PASSAGES, generation=7)


def test_the_index_lists_publishers_with_counts_in_their_usual_spelling(facets: ArticleFacets) -> None:
    # Most articles first; a publisher spelled two ways is shown as the spelling most of its articles use
    # (on a tie, capitals first).
    assert facets.publishers == [("Sky News", 2), ("The Guardian", 2), ("BBC News", 1)]
    assert facets.passage_count == 12  # the orphan's article is unknown


def test_a_match_counts_what_passed_and_the_undated_the_dates_left_out(facets: ArticleFacets) -> None:
    match = facets.match(MAY)
    assert match.article_ids() == ["a1", "a2"] and match.matching == 2 and match.total == 6
    assert match.undated_excluded == 2  # a4 (no date) and a5 (unreadable)
    assert match.passages() == 4
    guardian = facets.match(Filters(publishers=("the guardian",), since=D(2025, 1, 1)))
    assert guardian.article_ids() == ["a3"] and guardian.undated_excluded == 1  # only a5 was a Guardian article
    assert guardian.filters.publishers == ("The Guardian",)  # spelled as the index spells it
    assert facets.match(Filters(publishers=("Le Monde",))).matching == 0
    assert facets.match(Filters(article_ids=("a6", "nope"))).article_ids() == ["a6"]
    nothing = facets.match(Filters(since=D(2025, 6, 1), until=D(2025, 5, 1)))
    assert nothing.matching == 0 and nothing.passages() == 0


def test_passage_masks_and_checks(facets: ArticleFacets) -> None:
    match = facets.match(Filters(publishers=("BBC News",)))
    ids = [pid for pid, _ in PASSAGES]
    mask = match.passage_mask(ids)
    assert mask.dtype == np.float32 and [pid for pid, m in zip(ids, mask, strict=True) if m] == ["a6-0", "a6-1"]
    assert match.passage_mask(ids) is not mask and np.array_equal(match.passage_mask(ids), mask)
    assert match.admits("a6-1") and not match.admits("a1-0") and not match.admits("orphan-0")


DATES = st.one_of(
    st.none(), st.just("garbage"),
    st.dates(D(2023, 1, 1), D(2026, 12, 31)).map(lambda d: d.isoformat()),
    st.dates(D(2023, 1, 1), D(2026, 12, 31)).map(lambda d: d.isoformat()[:7]),
    st.integers(2023, 2026).map(str),
)
PUBLISHERS = st.sampled_from([None, "Sky News", "SKY NEWS", "BBC", "The Guardian"])


@settings(max_examples=200, deadline=None)
@given(
    articles=st.lists(st.tuples(PUBLISHERS, DATES), min_size=1, max_size=12),
    publishers=st.lists(st.sampled_from(["sky news", "BBC", "Reuters"]), max_size=2),
    since=st.one_of(st.none(), st.dates(D(2023, 1, 1), D(2026, 12, 31))),
    until=st.one_of(st.none(), st.dates(D(2023, 1, 1), D(2026, 12, 31))),
    chosen=st.lists(st.integers(0, 11), max_size=3),
)
def test_the_index_match_follows_the_rules_of_admits(
    articles: list[tuple[str | None, str | None]], publishers: list[str], since: D | None, until: D | None,
    chosen: list[int],
) -> None:
    rows = [(f"a{i}", publisher, date) for i, (publisher, date) in enumerate(articles)]
    filters = Filters(publishers=tuple(publishers), since=since, until=until,
                      article_ids=tuple(f"a{i}" for i in chosen))
    match = ArticleFacets(rows, [], 0).match(filters)
    assert match.article_ids() == [aid for aid, publisher, date in rows if filters.admits(aid, publisher, date)]
    others = Filters(publishers=filters.publishers, article_ids=filters.article_ids)
    undated = sum(others.admits(aid, p, d) and date_span(d) is None for aid, p, d in rows) if filters.dated else 0
    assert match.undated_excluded == undated


# --- what the user is told -------------------------------------------------------------


def retrieval(**fields: object) -> Retrieval:
    return Retrieval("q", np.zeros(3), (), {}, **fields)  # type: ignore[arg-type]


def test_the_filter_note_and_the_reason_nothing_matched() -> None:
    assert retrieval().filter_note() is None
    sky = Filters(publishers=("Sky News",))
    assert retrieval(filters=sky, articles_matching=1, articles_total=912).filter_note() == (
        "Filtered: Sky News · 1 of 912 articles")
    dated = Filters(publishers=("Sky News",), since=D(2026, 1, 1))
    empty = retrieval(filters=dated, articles_matching=0, articles_total=912, undated_excluded=3)
    assert empty.filter_note() == "Filtered: Sky News, since 2026-01-01 · 0 of 912 articles · 3 undated excluded"
    assert empty.no_match_reason() == ("no article matches the filters (Sky News, since 2026-01-01); "
                                       "the dates also left out 3 undated articles")
    assert retrieval(filters=sky, articles_matching=2, articles_total=9).no_match_reason() == (
        "no passage of the 2 articles matching the filters (Sky News) was found")


# --- the /ask API's filters_json ----------------------------------------------------------


def test_api_filters_takes_json_text_or_the_object() -> None:
    assert api_filters(None) is None and api_filters("") is None and api_filters("{}") is None
    assert api_filters("null") is None
    assert api_filters('{"publisher": "Sky News", "since": "2025-05"}') == Filters(
        publishers=("Sky News",), since=D(2025, 5, 1))
    assert api_filters({"article_ids": ["a1"]}) == Filters(article_ids=("a1",))


@pytest.mark.parametrize(("value", "message"), [
    ("{not json", "filters_json is not valid JSON"),
    ("[1]", "filters_json must be a JSON object such as"),
    ('"Sky News"', "filters_json must be a JSON object such as"),
    (["Sky News"], "filters_json must be a JSON object such as"),
    ("[" * 100_001, "the limit is"),
    ("[" * 50_000 + "]" * 50_000, "filters_json is not valid JSON (nested too deep)"),
    ('{"since": "May"}', "filters.since must be a date like 2025-05-31"),
    ('{"publishr": "BBC"}', "filters.publishr is not a filter"),
])
def test_api_filters_mistakes_are_one_line(value: object, message: str) -> None:
    with pytest.raises(QuestionError) as caught:
        api_filters(value)
    assert message in str(caught.value) and "\n" not in str(caught.value)
