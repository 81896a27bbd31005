"""What filters look at: every article's publisher and date span, and every passage's article.

Read from the catalog once per generation (:meth:`rag.index.handle.Index.facets`) into arrays, so that
matching :class:`~rag.types.Filters` against thousands of articles is a few vectorised operations, not a
SQL query per question. The rules are those of :meth:`Filters.admits <rag.types.Filters.admits>`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.dates import date_span
from rag.types import Filters, publisher_key

log = logging.getLogger(__name__)


class ArticleFacets:
    """Publishers, date spans and passages of the indexed articles, by article row."""

    def __init__(
        self, articles: Sequence[tuple[str, str | None, str | None]], passages: Iterable[tuple[str, str]],
        generation: int,
    ) -> None:
        """``articles``: (id, publisher, date) rows; ``passages``: (passage id, article id) rows."""
        self.generation = generation
        self.ids = [article_id for article_id, _, _ in articles]
        self._row = {article_id: row for row, article_id in enumerate(self.ids)}
        spellings: dict[str, Counter[str]] = {}
        rows_of: dict[str, list[int]] = {}
        for row, (_, publisher, _) in enumerate(articles):
            if publisher and publisher.strip():
                key = publisher_key(publisher)
                spellings.setdefault(key, Counter())[" ".join(publisher.split())] += 1
                rows_of.setdefault(key, []).append(row)
        self._publisher_rows = {key: np.array(rows, dtype=np.int64) for key, rows in rows_of.items()}
        # A publisher is shown as its most common spelling (on a tie, capitals first: "Sky News" before "sky news");
        # the list puts the publishers with most articles first.
        self._spelling = {key: min(names.items(), key=lambda item: (-item[1], item[0]))[0]
                          for key, names in spellings.items()}
        self.publishers: list[tuple[str, int]] = sorted(
            ((self._spelling[key], len(rows)) for key, rows in rows_of.items()),
            key=lambda item: (-item[1], item[0].casefold()),
        )
        spans = [date_span(date) for _, _, date in articles]
        self._dated = np.array([span is not None for span in spans], dtype=bool)
        self._first = np.array([span[0].toordinal() if span else 0 for span in spans], dtype=np.int64)
        self._last = np.array([span[1].toordinal() if span else 0 for span in spans], dtype=np.int64)
        counts = [0] * len(self.ids)
        self._passage_row: dict[str, int] = {}
        for passage_id, article_id in passages:
            found = self._row.get(article_id)
            if found is not None:
                counts[found] += 1
                self._passage_row[passage_id] = found
        self._passage_counts = np.array(counts, dtype=np.int64)
        self.passage_count = len(self._passage_row)
        self._rows_cache: tuple[Sequence[str], np.ndarray] | None = None

    def match(self, filters: Filters) -> FilterMatch:
        """The articles ``filters`` lets through (its publishers spelled as the index spells them)."""
        total = len(self.ids)
        allowed = np.ones(total, dtype=bool)
        if filters.publishers:
            allowed[:] = False
            for name in filters.publishers:
                allowed[self._publisher_rows.get(publisher_key(name), [])] = True
            spelled = tuple(self._spelling.get(publisher_key(name), name) for name in filters.publishers)
            filters = filters.model_copy(update={"publishers": spelled})  # "sky news" -> "Sky News"
        if filters.article_ids:
            chosen = np.zeros(total, dtype=bool)
            chosen[[self._row[i] for i in filters.article_ids if i in self._row]] = True
            allowed &= chosen
        undated_excluded = 0
        if filters.dated:
            undated_excluded = int(np.count_nonzero(allowed & ~self._dated))
            allowed &= self._dated & (not filters.impossible)
            if filters.since is not None:
                allowed &= self._last >= filters.since.toordinal()
            if filters.until is not None:
                allowed &= self._first <= filters.until.toordinal()
        return FilterMatch(self, filters, allowed, int(np.count_nonzero(allowed)), total, undated_excluded)

    def _rows(self, passage_ids: Sequence[str]) -> np.ndarray:
        """The article row of each passage (one past the last row for a passage of no known article)."""
        # The BM25 index asks with the same id list on every question: its rows are kept for it.
        cached = self._rows_cache
        if cached is not None and cached[0] is passage_ids:
            return cached[1]
        unknown = len(self.ids)
        rows = np.fromiter((self._passage_row.get(pid, unknown) for pid in passage_ids), dtype=np.int64,
                           count=len(passage_ids))
        self._rows_cache = (passage_ids, rows)
        return rows


@dataclass(frozen=True)
class FilterMatch:
    """The articles a filter lets through, the counts the user is told, and what the searches need."""

    facets: ArticleFacets
    filters: Filters  # as asked, publishers spelled as the index spells them
    allowed: np.ndarray  # bool per article row of the facets
    matching: int  # articles let through
    total: int  # articles in the index
    undated_excluded: int  # undated articles the date bounds left out that the other filters let through

    def article_ids(self) -> list[str]:
        return [self.facets.ids[row] for row in np.flatnonzero(self.allowed)]

    def passages(self) -> int:
        """How many passages the matching articles have."""
        return int(self.facets._passage_counts[self.allowed].sum())

    def admits(self, passage_id: str) -> bool:
        """Whether the passage's article matches."""
        row = self.facets._passage_row.get(passage_id)
        return row is not None and bool(self.allowed[row])

    def passage_mask(self, passage_ids: Sequence[str]) -> np.ndarray:
        """1.0 for each of ``passage_ids`` whose article matches, else 0.0 (a BM25 weight mask)."""
        allowed = np.append(self.allowed, False)  # the row past the last stands for passages of no known article
        return allowed[self.facets._rows(passage_ids)].astype(np.float32)
