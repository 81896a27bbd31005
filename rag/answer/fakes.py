"""Fakes for the answer stage, so the chain's logic can be tested in milliseconds without a model.

``FakeEmbedder`` turns words into hashed bag-of-words unit vectors (texts that share
words are similar, as with MiniLM, only cruder); ``FakeSearch`` retrieves from a few
in-memory articles with it (filters included), returning the same :class:`~rag.types.Retrieval`
records as :class:`~rag.answer.retrieve.HybridSearch`; ``scripted_model`` is a chat model that
replies with the given texts in turn. Together with ``build_chain(settings,
chat_model, search)`` they drive every stage of the chain: refusals, the select
strategy's gate and checks, generation, streaming and the fallbacks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

import numpy as np
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from rag.index.facets import ArticleFacets
from rag.ingest.chunking import split_sentences
from rag.types import Filters, Retrieval, RetrievedPassage, SentenceVectors

_WORD = re.compile(r"[a-z0-9]+")
DIMENSION = 512


class FakeEmbedder:
    """Unit vectors from hashed words: deterministic, instant, similar for texts that share words."""

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                out[row, int(hashlib.blake2b(word.encode(), digest_size=4).hexdigest(), 16) % DIMENSION] += 1.0
            norm = float(np.linalg.norm(out[row]))
            if norm:
                out[row] /= norm
        return out


class FakeSearch:
    """Retrieval over in-memory articles, one passage per paragraph, ranked by :class:`FakeEmbedder` cosine."""

    def __init__(
        self, articles: Mapping[str, str], publishers: Mapping[str, str] | None = None,
        dates: Mapping[str, str] | None = None,
    ) -> None:
        """``articles``: title -> text (paragraphs separated by blank lines); ``publishers`` and ``dates``:
        title -> the article's publisher and date as stored ("2025", "2025-05-12", ...), for filters.
        Article ids are "a0", "a1", ... in the order given."""
        self.embedder = FakeEmbedder()
        self.passages: list[RetrievedPassage] = []
        self.sentences: dict[str, SentenceVectors] = {}
        publishers, dates = publishers or {}, dates or {}
        for number, (title, text) in enumerate(articles.items()):
            start = 0
            for ordinal, paragraph in enumerate(text.split("\n\n")):
                pid = f"a{number}-{ordinal:04d}"
                passage = RetrievedPassage(
                    passage_id=pid, article_id=f"a{number}", source=f"{title.lower().replace(' ', '-')}.txt",
                    title=title, publisher=publishers.get(title), date=dates.get(title), text=paragraph,
                    start=start, end=start + len(paragraph), score=0.0, relevance=0.0,
                )
                spans = split_sentences(paragraph)
                self.passages.append(passage)
                self.sentences[pid] = SentenceVectors(spans, self.embedder.encode([paragraph[a:b] for a, b in spans]))
                start += len(paragraph) + 2
        articles = {p.article_id: (p.article_id, p.publisher, p.date) for p in self.passages}
        self.facets = ArticleFacets(list(articles.values()), [(p.passage_id, p.article_id) for p in self.passages], 0)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.embedder.encode(texts)

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> Retrieval:
        vector = self.embedder.encode([query])[0]
        pool = self.passages
        filters = None if filters is None or filters.empty else filters
        matching = total = None
        undated = 0
        if filters is not None:  # matched as the index matches them
            match = self.facets.match(filters)
            pool = [p for p in self.passages if match.admits(p.passage_id)]
            filters, matching, total, undated = match.filters, match.matching, match.total, match.undated_excluded
        scored = []
        for passage in pool:
            sims = self.sentences[passage.passage_id].vectors @ vector
            relevance = max(0.0, float(sims.max())) if len(sims) else 0.0
            scored.append(passage.model_copy(update={"score": relevance, "relevance": relevance}))
        best = sorted(scored, key=lambda p: -p.relevance)[:k]
        return Retrieval(query, vector, tuple(best), {p.passage_id: self.sentences[p.passage_id] for p in best},
                         filters, matching, total, undated)


def scripted_model(replies: Sequence[str]) -> FakeListChatModel:
    """A chat model that answers each call with the next reply (no log-probabilities, like some servers)."""
    return FakeListChatModel(responses=list(replies))
