"""Hybrid retrieval: dense (Chroma) + BM25, fused by reciprocal rank, then
re-ranked by the best-matching sentence of each candidate.

A passage-level MiniLM vector blurs a passage's several sentences together, so
the fused top candidates are re-ranked by their single most similar sentence
(sentence vectors are computed at index time from the passage's own forward
pass, see ``SentenceEmbedder.encode_passages``, and reused to pick the prompt's
evidence). Near-identical passages (the same quote carried by two outlets)
collapse into one hit that remembers every article it appears in. Each hit
carries a ``relevance`` (cosine similarity, 0..1) that the chain uses to refuse.

:class:`~rag.types.Filters` (publisher, date range, article ids) restrict both
searches to the passages of the matching articles before fusion; everything
after is the same, and without filters nothing changes at all.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, field_validator

from rag.embeddings import get_embedder
from rag.errors import IndexCorruptError
from rag.index.catalog import wipe_count
from rag.index.facets import FilterMatch
from rag.index.handle import Index
from rag.ingest.chunking import split_sentences
from rag.settings import Settings
from rag.text import abbreviated_names, names, terms, words
from rag.types import Filters, PassageRef, Retrieval, RetrievedPassage, SentenceVectors, StoredPassage

if TYPE_CHECKING:
    from rag.index.vectors import VectorHit, VectorStore

log = logging.getLogger(__name__)


class Search(Protocol):
    """What the chain needs from retrieval: :class:`HybridSearch`, or a fake in unit tests."""

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> Retrieval: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...


class HybridSearch:
    """Loaded once per index; safe to call from several threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        Index.open(settings)  # fails now, with a clear error, when there is no usable index
        self.embedder = get_embedder(settings.resolved_embedding_model(), settings.embedding_batch_size)
        self._sentences: OrderedDict[str, SentenceVectors] = OrderedDict()
        self._sentences_lock = threading.Lock()

    def sentence_vectors(self, passages: list[tuple[str, str]]) -> dict[str, SentenceVectors]:
        """Sentence spans and vectors of (passage id, text) pairs: cached, else stored at index time.

        Passages of an index built before sentence vectors were stored get them
        computed here, once, the same way.
        """
        with self._sentences_lock:
            found = {pid: self._sentences[pid] for pid, _ in passages if pid in self._sentences}
        todo = [(pid, text) for pid, text in passages if pid not in found]
        if todo:
            fresh = Index.open(self.settings).catalog.sentence_vectors(pid for pid, _ in todo)
            missing = [(pid, text) for pid, text in todo if pid not in fresh]
            if missing:
                texts = [text for _, text in missing]
                _, computed = self.embedder.encode_passages(texts, [split_sentences(text) for text in texts])
                fresh.update(zip((pid for pid, _ in missing), computed))
            found.update(fresh)
            with self._sentences_lock:
                self._sentences.update(fresh)
                while len(self._sentences) > _SENTENCE_CACHE_PASSAGES:
                    self._sentences.popitem(last=False)
        return found

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of texts, with the model the index was built with (claims, at verification)."""
        return self.embedder.encode(texts)

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[RetrievedPassage]:
        """The k best passages for query, best first (among the articles ``filters`` lets through)."""
        return list(self.retrieve(query, k, filters).passages)

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> Retrieval:
        """The k best passages for query, best first, with the query's vector and their sentence vectors:
        everything the later stages need, so none of them calls back into the search.

        ``filters`` restricts both searches to the passages of the articles it lets through, and the
        Retrieval says how many those are; when none is, the Retrieval is empty (not an error).
        """
        if filters is not None and filters.empty:
            filters = None
        n = max(self.settings.candidate_k, k)
        query_vector = self.embedder.encode([query])[0]
        # Looked up per question: an index another process rebuilt or extended is reopened here.
        index = Index.open(self.settings)
        match = index.facets().match(filters) if filters is not None else None
        counts: dict[str, Any] = {}
        if match is not None:
            counts = {"filters": match.filters, "articles_matching": match.matching, "articles_total": match.total,
                      "undated_excluded": match.undated_excluded}
            if not match.matching:
                return Retrieval(question=query, question_vector=query_vector, passages=(), sentences={}, **counts)
        store = index.vectors
        try:
            dense = _dense(store, query_vector, n, match)
        except IndexCorruptError:  # changed by another process between the check and the read: once more
            index.reload_vectors()
            store = index.vectors
            dense = _dense(store, query_vector, n, match)
        lexical_index = index.lexical()
        lexical = lexical_index.search(query, n, match.passage_mask(lexical_index.ids) if match is not None else None)

        fused: dict[str, float] = {}
        dense_rank: dict[str, int] = {}
        lexical_rank: dict[str, int] = {}
        for rank, hit in enumerate(dense, start=1):
            dense_rank[hit.passage_id] = rank
            fused[hit.passage_id] = fused.get(hit.passage_id, 0.0) + 1.0 / (self.settings.rrf_k + rank)
        for rank, lhit in enumerate(lexical, start=1):
            lexical_rank[lhit.passage_id] = rank
            fused[lhit.passage_id] = fused.get(lhit.passage_id, 0.0) + 1.0 / (self.settings.rrf_k + rank)

        # Ids unknown to the catalog are vectors an interrupted run left behind.
        stored = index.catalog.get_passages(fused)
        ranked = sorted((pid for pid in fused if pid in stored), key=lambda pid: -fused[pid])
        vectors = store.vectors(ranked)

        pool = max(k, self.settings.rerank_candidates)
        kept: list[tuple[StoredPassage, np.ndarray | None, list[PassageRef]]] = []
        for pid in ranked:
            passage, vector = stored[pid], vectors.get(pid)
            duplicate_of = self._duplicate_of(passage, vector, kept)
            if duplicate_of is not None:
                if passage.article_id != duplicate_of[0].article_id:
                    duplicate_of[2].append(_ref(passage))
                continue
            kept.append((passage, vector, []))
            if len(kept) == pool:
                break

        relevance = {
            p.id: max(0.0, float(vector @ query_vector)) if vector is not None else 0.0 for p, vector, _ in kept
        }
        score = {p.id: fused[p.id] for p, _, _ in kept}
        # The kept candidates' sentence vectors: the re-rank reads them, and the k returned carry them on.
        sentences = self.sentence_vectors([(p.id, p.text) for p, _, _ in kept])
        if self.settings.rerank_candidates:
            for p, _, _ in kept:
                sims = sentences[p.id].vectors @ query_vector
                if len(sims):
                    relevance[p.id] = max(0.0, float(sims.max()))
            # The fusion rank breaks near-ties between equally similar sentences.
            wanted, asked = names(query), terms(query).content
            titled = {p.id: f"{p.title}\n{p.text}" for p, _, _ in kept}
            score = {
                p.id: relevance[p.id]
                + _NAME_WEIGHT * _coverage(wanted, words(titled[p.id]) | abbreviated_names(query, titled[p.id]))
                + _TERM_WEIGHT * _coverage(asked, terms(titled[p.id]).content)
                + _FUSION_PRIOR / (1 + i)
                for i, (p, _, _) in enumerate(kept)
            }
            kept.sort(key=lambda entry: -score[entry[0].id])
        kept = kept[:k]

        passages = tuple(
            RetrievedPassage(
                passage_id=p.id,
                **p.article_fields(),
                text=p.text,
                start=p.start,
                end=p.end,
                score=score[p.id],
                relevance=relevance[p.id],
                dense_rank=dense_rank.get(p.id),
                lexical_rank=lexical_rank.get(p.id),
                also_in=tuple(refs),
            )
            for p, vector, refs in kept
        )
        return Retrieval(question=query, question_vector=query_vector, passages=passages,
                         sentences={p.passage_id: sentences[p.passage_id] for p in passages}, **counts)

    def _duplicate_of(
        self,
        passage: StoredPassage,
        vector: np.ndarray | None,
        kept: list[tuple[StoredPassage, np.ndarray | None, list[PassageRef]]],
    ) -> tuple[StoredPassage, np.ndarray | None, list[PassageRef]] | None:
        for entry in kept:
            other, other_vector = entry[0], entry[1]
            if passage.text == other.text:
                return entry
            if vector is not None and other_vector is not None:
                if float(vector @ other_vector) >= self.settings.duplicate_similarity:
                    return entry
        return None


def _dense(store: VectorStore, vector: np.ndarray, n: int, match: FilterMatch | None) -> list[VectorHit]:
    """The n nearest passages (of the matching articles, with a filter).

    Chroma's ``where`` slows with the number of article ids (seeds + BBC, 4,274 passages: ~5 ms for 100
    articles, ~15 ms for 400, ~25 ms for all 910) while a plain nearest-neighbour query stays near 1 ms up
    to a few hundred results. So when a fair share of the passages passes, the plain query asked for more
    (n / share x 2) finds n of them faster; should too few of those pass, the filtered query runs after all.
    """
    if match is None:
        return store.query(vector, n)
    allowed, everything = match.passages(), match.facets.passage_count
    share = allowed / max(everything, 1)
    if share >= _OVERFETCH_SHARE:
        wide = min(math.ceil(n / share * _OVERFETCH_FACTOR), everything)
        found = store.query(vector, wide)
        kept = [hit for hit in found if match.admits(hit.passage_id)]
        if len(kept) >= min(n, allowed) or len(found) < wide:
            return kept[:n]
        log.debug("over-fetching %d found %d of %d filtered passages; querying with the filter", wide, len(kept), n)
    return store.query(vector, n, match.article_ids())


# Share of the passages a filter lets through from which over-fetching replaces the filtered query (at 0.2 it asks
# for 10 x n: ~3 ms), and by how much more it asks for than the share alone requires.
_OVERFETCH_SHARE = 0.2
_OVERFETCH_FACTOR = 2.0
_SENTENCE_CACHE_PASSAGES = 20_000
# Weight of the fusion rank in the re-ranking score (a tie-breaker at 0.02).
_FUSION_PRIOR = 0.02
# Weight of "the passage (or its article's title) names whom the question names".
_NAME_WEIGHT = 0.15
# Weight of the share of the question's content words (stemmed) the passage contains.
_TERM_WEIGHT = 0.15


def _coverage(wanted: frozenset[str], found: frozenset[str]) -> float:
    return len(wanted & found) / len(wanted) if wanted else 0.0


def _ref(passage: StoredPassage) -> PassageRef:
    return PassageRef(
        passage_id=passage.id, article_id=passage.article_id, source=passage.source, title=passage.title,
        start=passage.start, end=passage.end,
    )


_SEARCHES: dict[tuple[str, int], HybridSearch] = {}
_SEARCHES_LOCK = threading.Lock()


# The settings a search reads; the others (backend, top_k, answer strategy, app) share one search.
SEARCH_FIELDS = frozenset({
    "index_dir", "chroma_url", "collection", "embedding_model", "embedding_batch_size", "chunk_max_chars",
    "chunk_overlap_sentences", "candidate_k", "rrf_k", "duplicate_similarity", "rerank_candidates",
})


def get_search(settings: Settings) -> HybridSearch:
    """The one HybridSearch of an index in this process, shared by every backend and top-k.

    Keyed on the index and the retrieval settings only, and on how often the index
    was wiped, so a rebuilt index is opened afresh.
    """
    key = (settings.model_dump_json(include=SEARCH_FIELDS), wipe_count(Path(settings.index_dir)))
    with _SEARCHES_LOCK:
        if key not in _SEARCHES:
            _SEARCHES[key] = HybridSearch(settings)
        return _SEARCHES[key]


def forget_searches() -> None:
    """Drop the cached searches, so the next question opens the index cold (benchmarks)."""
    with _SEARCHES_LOCK:
        _SEARCHES.clear()


def to_document(hit: RetrievedPassage) -> Document:
    metadata: dict[str, Any] = hit.model_dump(exclude={"text"})
    metadata["also_in"] = [ref.model_dump() for ref in hit.also_in]
    return Document(page_content=hit.text, metadata=metadata, id=hit.passage_id)


class HybridRetriever(BaseRetriever):
    """LangChain retriever over the index: ``HybridRetriever(k=4).invoke("question")``.

    Each Document's metadata holds the passage id, article id, source file, title,
    publisher, date, offsets into the cleaned article, the fused score, the relevance
    (0..1) and ``also_in`` (the other articles carrying the same passage).

    ``filters`` (a :class:`~rag.types.Filters` or its mapping form, ``{"publisher": "Sky News",
    "since": "2025-05"}``) restricts every search; ``invoke(query, filters=...)`` replaces it for one call.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    settings: Settings = Field(default_factory=Settings)
    k: int = Field(default=4, ge=1)
    filters: Filters | None = None

    @field_validator("filters", mode="before")
    @classmethod
    def _parse_filters(cls, value: object) -> Filters | None:
        return Filters.parse(value)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None,
        filters: Filters | Mapping[str, Any] | None = None,
    ) -> list[Document]:
        chosen = Filters.parse(filters) if filters is not None else self.filters
        # Looked up on every call (a dictionary lookup): a rebuilt index is picked up.
        return [to_document(hit) for hit in get_search(self.settings).search(query, k or self.k, chosen)]


def build_retriever(
    settings: Settings | None = None, k: int | None = None, filters: Filters | Mapping[str, Any] | None = None
) -> HybridRetriever:
    """A LangChain ``BaseRetriever`` over the configured index (only the articles ``filters`` lets through)."""
    settings = settings or Settings()
    return HybridRetriever(settings=settings, k=k or settings.top_k, filters=Filters.parse(filters))
