"""Sentence vectors: pooled from the passage's own forward pass at index time, stored, reused at query time."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from rag.answer.retrieve import HybridSearch
from rag.embeddings import SentenceEmbedder, get_embedder
from rag.index.build import build_index
from rag.index.catalog import CATALOG_FILE, Catalog
from rag.ingest.chunking import split_sentences
from rag.settings import Settings
from tests.conftest import SEEDS, make_settings

pytestmark = pytest.mark.integration

PASSAGE = (
    "The Home Office will narrow Article 8 claims in immigration cases. "
    "Storm Bram brought heavy rain to western Scotland on Tuesday. "
    "Denmark's prime minister co-wrote an op-ed with Keir Starmer."
)


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    settings = Settings()
    return get_embedder(settings.resolved_embedding_model(), settings.embedding_batch_size)


def test_passage_vectors_are_unchanged_and_sentence_vectors_match_their_sentence(embedder: SentenceEmbedder) -> None:
    spans = split_sentences(PASSAGE)
    assert len(spans) == 3
    vectors, sentences = embedder.encode_passages([PASSAGE, "One more."], [spans, split_sentences("One more.")])
    # The passage vector is exactly what a plain encode gives (mean pooling of the same tokens).
    assert np.abs(vectors - embedder.encode([PASSAGE, "One more."])).max() < 1e-5
    pooled = sentences[0].vectors
    assert pooled.shape == (3, embedder.dimension)
    assert np.allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-5)
    alone = embedder.encode([PASSAGE[a:b] for a, b in spans])
    similarity = pooled @ alone.T
    # Each pooled sentence is nearest to its own sentence embedded alone.
    assert list(similarity.argmax(axis=1)) == [0, 1, 2]
    assert min(similarity.diagonal()) > 0.5


def test_sentence_past_the_model_length_limit_falls_back_to_the_passage_vector(embedder: SentenceEmbedder) -> None:
    text = "word " * 400 + "Last sentence here."
    spans = [(0, 2000), (2000, len(text))]
    vectors, sentences = embedder.encode_passages([text], [spans])
    assert np.allclose(sentences[0].vectors[1], vectors[0])
    assert not np.allclose(sentences[0].vectors[0], vectors[0])


def test_index_stores_sentence_vectors_and_edits_replace_them(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    settings = make_settings(tmp_path, corpus)
    build_index(settings)
    catalog = Catalog(Path(settings.index_dir))
    ids = catalog.passage_ids()
    stored = catalog.sentence_vectors(ids)
    assert set(stored) == ids
    passages = catalog.get_passages(ids)
    for pid, sv in stored.items():
        assert sv.spans == split_sentences(passages[pid].text)
        assert sv.vectors.shape == (len(sv.spans), 384)

    first = sorted(corpus.iterdir())[0]
    first.write_text(first.read_text() + "\n\nA new closing paragraph about ferries.\n")
    build_index(settings)
    new_ids = catalog.passage_ids()
    assert set(catalog.sentence_vectors(ids | new_ids)) == new_ids  # the old version's rows went with it
    rows = sqlite3.connect(Path(settings.index_dir) / CATALOG_FILE).execute("SELECT COUNT(*) FROM sentences")
    assert rows.fetchone()[0] == len(new_ids)


def test_search_embeds_only_the_question_and_old_indexes_still_work(seed_settings: Settings, tmp_path: Path) -> None:
    question = "Why won't Starmer leave the ECHR?"
    search = HybridSearch(seed_settings)
    calls: list[int] = []
    original = search.embedder.encode_passages

    def counting(texts: list[str], spans: list[list[tuple[int, int]]]):  # type: ignore[no-untyped-def]
        calls.append(len(texts))
        return original(texts, spans)

    search.embedder.encode_passages = counting  # type: ignore[method-assign]
    try:
        hits = search.search(question, 5)
        assert calls == []  # every candidate's sentence vectors came from the catalog

        # A copy of the index as written before sentence vectors were stored: computed on first use, alike.
        old_layout = seed_settings.model_copy(update={"index_dir": tmp_path / "index"})
        shutil.copytree(seed_settings.index_dir, old_layout.index_dir)
        db = sqlite3.connect(Path(old_layout.index_dir) / CATALOG_FILE)
        db.execute("DROP TABLE sentences")
        db.commit()
        db.close()
        again = HybridSearch(old_layout).search(question, 5)
        assert calls and sum(calls) >= 5
        assert [h.passage_id for h in again] == [h.passage_id for h in hits]
        assert [round(h.relevance, 2) for h in again] == [round(h.relevance, 2) for h in hits]
    finally:
        del search.embedder.encode_passages
