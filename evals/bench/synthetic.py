"""Synthetic large indexes for retrieval and answer latency at 100k+ passages.

Embedding 100,000 passages takes ~40 minutes on the 2-core target, so the large
sizes are not ingested: they are written straight into the catalog, Chroma and
BM25 through the library's own classes (``Catalog.replace_article``,
``VectorStore.upsert``, ``LexicalIndex.build``), from the real ``bbc`` index:

* every real article (seeds and BBC) is copied as is, with its real vectors;
* each BBC article is cloned ``multiple - 1`` times: new article and passage ids,
  each passage's sentences shuffled (so no two passages share a text, and the
  clone's true embedding stays close to the original's), and as its vector the
  original passage vector plus Gaussian noise, re-normalised, scaled so that the
  clone's cosine similarity to its original is about ``target_cosine`` (0.90:
  below the 0.93 duplicate threshold, so clones are distinct hits, as different
  articles on the same story would be); the stored sentence vectors follow their
  sentences, with the same noise recipe.

The seeds are not cloned: the eval questions keep one right answer among
100,000 distractor passages. Such an index is valid for latency only, never for
ingest throughput or answer quality.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.index.bm25 import LexicalIndex
from rag.index.catalog import Catalog
from rag.index.vectors import VectorStore
from rag.settings import Settings
from rag.types import Article, Passage, SentenceVectors

log = logging.getLogger(__name__)

TARGET_COSINE = 0.90
_UPSERT_BATCH = 4096


@dataclass
class SyntheticResult:
    articles: int
    passages: int
    clones: int


def noise_scale(target_cosine: float, dimension: int) -> float:
    """Per-component noise std giving E[cos(v, normalise(v + noise))] ~= target for a unit v."""
    # |noise|^2 ~= dimension * s^2 and cos = 1 / sqrt(1 + |noise|^2).
    return float(np.sqrt((1.0 / target_cosine**2 - 1.0) / dimension))


def perturb_vectors(vectors: np.ndarray, rng: np.random.Generator, target_cosine: float = TARGET_COSINE) -> np.ndarray:
    """Noisy unit-length copies of unit vectors (rows), at about ``target_cosine`` from the originals."""
    scale = noise_scale(target_cosine, vectors.shape[1])
    noisy = vectors + rng.normal(0.0, scale, size=vectors.shape).astype(np.float32)
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def shuffle_sentences(text: str, spans: list[tuple[int, int]], rng: random.Random) -> tuple[str, list[int]]:
    """The passage with its sentences (spans) in a random order, and that order."""
    order = list(range(len(spans)))
    rng.shuffle(order)
    return " ".join(text[spans[i][0] : spans[i][1]] for i in order), order


def clone_article(
    article: Article, passages: list[Passage], copy: int, sentences: dict[str, SentenceVectors]
) -> tuple[Article, list[Passage], dict[str, SentenceVectors]]:
    """A synthetic copy: new ids and source, each passage's sentences shuffled (seeded by article and copy).

    The article text is the clone's passages joined by blank lines, so every
    passage is exactly ``text[start:end]``, as the catalog requires; each clone
    passage gets its original's sentence vectors in the shuffled order.
    """
    rng = random.Random(f"{article.id}:{copy}")
    shuffled = [shuffle_sentences(p.text, sentences[p.id].spans, rng) for p in passages]
    texts = [text for text, _ in shuffled]
    header = f"Synthetic copy {copy} of {article.source}."
    body_parts = [header]
    offsets: list[tuple[int, int]] = []
    position = len(header) + 2
    for text in texts:
        offsets.append((position, position + len(text)))
        body_parts.append(text)
        position += len(text) + 2
    body = "\n\n".join(body_parts)
    content_hash = hashlib.sha256(body.encode()).hexdigest()
    clone_id = f"{article.id}-syn{copy:03d}"
    clone = Article(
        id=clone_id,
        source=f"synthetic/copy{copy:03d}/{article.source}",
        title=article.title,
        publisher=article.publisher,
        date=article.date,
        url=None,
        text=body,
        content_hash=content_hash,
    )
    clone_passages = [
        Passage(id=f"{clone_id}-{content_hash[:8]}-{i:04d}", article_id=clone_id, ordinal=i, text=text, start=a, end=b)
        for i, (text, (a, b)) in enumerate(zip(texts, offsets, strict=True))
    ]
    clone_sentences: dict[str, SentenceVectors] = {}
    for original, clone_passage, (_, order) in zip(passages, clone_passages, shuffled, strict=True):
        assert body[clone_passage.start : clone_passage.end] == clone_passage.text
        source = sentences[original.id]
        spans, position = [], 0
        for i in order:
            length = source.spans[i][1] - source.spans[i][0]
            spans.append((position, position + length))
            position += length + 1
        clone_sentences[clone_passage.id] = SentenceVectors(spans, source.vectors[order])
    return clone, clone_passages, clone_sentences


def _all_vectors(store: VectorStore) -> dict[str, np.ndarray]:
    vectors: dict[str, np.ndarray] = {}
    page = 5000
    offset = 0
    while True:
        got = store.collection.get(include=["embeddings"], limit=page, offset=offset)
        embeddings = got["embeddings"]
        for pid, vec in zip(got["ids"], embeddings if embeddings is not None else [], strict=True):
            vectors[pid] = np.asarray(vec, dtype=np.float32)
        if len(got["ids"]) < page:
            return vectors
        offset += page


def _metadata(article: Article, passage: Passage) -> dict[str, object]:
    return {
        "article_id": article.id, "source": article.source, "title": article.title,
        "ordinal": passage.ordinal, "start": passage.start, "end": passage.end,
    }


class _Writer:
    """Catalog rows per article, vectors batched into Chroma."""

    def __init__(self, catalog: Catalog, store: VectorStore) -> None:
        self.catalog = catalog
        self.store = store
        self.ids: list[str] = []
        self.vectors: list[np.ndarray] = []
        self.documents: list[str] = []
        self.metadatas: list[dict[str, object]] = []
        self.passages = 0

    def add(
        self, article: Article, passages: list[Passage], vectors: np.ndarray, sentences: dict[str, SentenceVectors]
    ) -> None:
        self.catalog.replace_article(article, passages, sentences)
        self.ids.extend(p.id for p in passages)
        self.vectors.extend(vectors)
        self.documents.extend(p.text for p in passages)
        self.metadatas.extend(_metadata(article, p) for p in passages)
        self.passages += len(passages)
        if len(self.ids) >= _UPSERT_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.ids:
            self.store.upsert(self.ids, np.stack(self.vectors), self.documents, self.metadatas)  # type: ignore[arg-type]
        self.ids, self.vectors, self.documents, self.metadatas = [], [], [], []


def build_synthetic(source: Settings, dest: Settings, multiple: int, seed: int = 0) -> SyntheticResult:
    """Write ``dest``'s index: ``source``'s articles plus ``multiple - 1`` clones of each BBC article."""
    src_catalog = Catalog(Path(source.index_dir))
    src_vectors = _all_vectors(VectorStore(source))
    catalog = Catalog(Path(dest.index_dir), create=True)
    catalog.set_meta(dirty="1", fingerprint=dest.index_fingerprint(), synthetic=f"x{multiple}")
    writer = _Writer(catalog, VectorStore(dest))
    rng = np.random.default_rng(seed)

    rows = src_catalog.list_articles()
    articles = 0
    clones = 0
    log.info("synthetic x%d: cloning %d articles", multiple, len(rows))
    for copy in range(multiple):
        for row in rows:
            article = src_catalog.get_article(str(row["id"]))
            if article is None:
                continue
            stored = src_catalog.passages_of(article.id)
            passages = [Passage(id=p.id, article_id=p.article_id, ordinal=p.ordinal, text=p.text, start=p.start,
                                end=p.end) for p in stored]
            missing = [p.id for p in passages if p.id not in src_vectors]
            if missing:
                raise RuntimeError(f"the source index lacks vectors for {len(missing)} passages: rebuild it")
            vectors = np.stack([src_vectors[p.id] for p in passages]) if passages else np.zeros((0, 384), np.float32)
            sentences = src_catalog.sentence_vectors(p.id for p in passages)
            if len(sentences) != len(passages):
                raise RuntimeError("the source index lacks sentence vectors: rebuild it")
            if copy == 0:
                writer.add(article, passages, vectors, sentences)
            elif article.source.startswith("bbc/"):
                clone, clone_passages, clone_sentences = clone_article(article, passages, copy, sentences)
                for sv in clone_sentences.values():
                    sv.vectors = perturb_vectors(sv.vectors, rng)
                writer.add(clone, clone_passages, perturb_vectors(vectors, rng), clone_sentences)
                clones += 1
            else:
                continue
            articles += 1
        log.info("synthetic x%d: copy %d written (%d passages so far)", multiple, copy, writer.passages)
    writer.flush()
    lexical = LexicalIndex.build(list(catalog.iter_passage_texts()), catalog.generation)
    lexical.save(Path(dest.index_dir))
    catalog.set_meta(dirty="0")
    counted_articles, counted_passages = catalog.counts()
    assert counted_articles == articles, (counted_articles, articles)
    return SyntheticResult(counted_articles, counted_passages, clones)
