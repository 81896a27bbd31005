"""Hybrid retrieval finds the answering passage, with and without 928 distractor articles."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.documents import Document

from rag.answer.retrieve import HybridRetriever, build_retriever, get_search
from rag.index.build import build_index
from rag.settings import Settings
from tests.conftest import make_settings

pytestmark = pytest.mark.integration

# (question, a phrase of the passage that answers it, or alternatives)
ACCEPTANCE: list[tuple[str, str | tuple[str, ...]]] = [
    ("Why won't Starmer leave the ECHR?", "jeopardise deportation deals"),
    ("Why won't Starmer leave the ECHR?", "you don't believe in international law"),
    ("Who wrote the op-ed with Starmer?", ("Frederiksen", "Fredriksen")),  # the article spells it both ways
    ("What did Suella Braverman say?", "empty promises"),
    ("What did Amnesty International UK say?", "weakening protections"),
    ("What did Nigel Farage warn about?", "even more people"),
    ("What did Alain Berset say about the court?", "must not be weaponised"),
    ("How many Council of Europe member states adopted the conclusions?", "46 Council of Europe member states"),
    ("What did Jordan Bardella call the one-in, one-out deal?", "sticking plaster"),
]


def _top3_has(settings: Settings, question: str, phrase: str | tuple[str, ...]) -> None:
    hits = get_search(settings).search(question, 3)
    texts = [h.text for h in hits]
    phrases = (phrase,) if isinstance(phrase, str) else phrase
    assert any(p in t for p in phrases for t in texts), f"{phrase!r} not in top 3 for {question!r}: {texts}"


@pytest.mark.parametrize(("question", "phrase"), ACCEPTANCE)
def test_answer_passage_in_top3_on_seeds(seed_settings: Settings, question: str, phrase: str | tuple[str, ...]) -> None:
    _top3_has(seed_settings, question, phrase)


@pytest.mark.parametrize(("question", "phrase"), ACCEPTANCE)
def test_answer_passage_in_top3_with_bbc_distractors(
    bbc_settings: Settings, question: str, phrase: str | tuple[str, ...]
) -> None:
    _top3_has(bbc_settings, question, phrase)


def test_a_clipped_party_name_counts_as_named_with_bbc_distractors(bbc_settings: Settings) -> None:
    # The article says "lib dems" only; before clipped names counted, every passage that spelled out
    # "Liberal Democrats" outranked it and it fell from dense #1 to #10.
    _top3_has(bbc_settings, "Who have the Liberal Democrats hired to run communications for their general "
              "election campaign?", "sandy walkington")


def test_hits_carry_offsets_scores_and_relevance(seed_settings: Settings) -> None:
    from rag.index.catalog import Catalog

    hits = get_search(seed_settings).search("Why won't Starmer leave the ECHR?", 5)
    assert len(hits) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    catalog = Catalog(Path(seed_settings.index_dir))
    for hit in hits:
        article = catalog.get_article(hit.article_id)
        assert article is not None and article.text[hit.start : hit.end] == hit.text
        assert 0.0 <= hit.relevance <= 1.0
    assert hits[0].relevance > 0.4


def test_unrelated_question_has_low_relevance(seed_settings: Settings) -> None:
    hits = get_search(seed_settings).search("What is the capital of Australia?", 3)
    assert max(h.relevance for h in hits) < seed_settings.min_relevance


def test_footer_headlines_are_not_indexed(seed_settings: Settings) -> None:
    hits = get_search(seed_settings).search("Storm Bram brings 90mph winds and rain", 5)
    assert not any("Storm Bram" in h.text for h in hits)


def test_same_passage_in_two_articles_is_one_hit(tmp_path: Path) -> None:
    """Two outlets carry the same quote (one with straight quotes, one with curly ones)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    quote = (
        'Sir Keir said the convention "must evolve to reflect the challenges of the 21st century" '
        "and that the government would remain a member of the treaty."
    )
    filler_a = "Outlet A reports at length on the summit of European ministers in Strasbourg, France, on Wednesday."
    filler_b = "Outlet B adds that the ministers of the forty-six member states met behind closed doors for hours."
    (corpus / "outlet-a.txt").write_text(f"{filler_a}\n{quote}\n")
    curly = quote.replace('"', "“", 1).replace('"', "”", 1)
    (corpus / "outlet-b.txt").write_text(f"{curly}\n{filler_b}\n")
    (corpus / "other.txt").write_text("The football season opened with a draw in the rain on Saturday afternoon.\n")
    settings = make_settings(tmp_path, corpus, chunk_max_chars=160, chunk_overlap_sentences=0)
    build_index(settings)
    hits = get_search(settings).search("What did Sir Keir say the convention must do?", 3)
    quoted = [h for h in hits if "21st century" in h.text]
    assert len(quoted) == 1
    assert {quoted[0].source, *(ref.source for ref in quoted[0].also_in)} == {"outlet-a.txt", "outlet-b.txt"}


def test_langchain_retriever_returns_documents(seed_settings: Settings) -> None:
    retriever = build_retriever(seed_settings, k=2)
    assert isinstance(retriever, HybridRetriever)
    docs = retriever.invoke("Who wrote the op-ed with Starmer?")
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    meta = docs[0].metadata
    assert {"passage_id", "article_id", "source", "title", "start", "end", "relevance", "also_in"} <= set(meta)
    assert len(retriever.invoke("Who wrote the op-ed with Starmer?", k=4)) == 4


def test_chroma_server_backend(tmp_path: Path, chroma_server: str) -> None:
    """The same index on a real `chroma run` server through RAG_CHROMA_URL."""
    settings = make_settings(tmp_path, chroma_url=chroma_server, collection="server-test")
    report = build_index(settings)
    assert report.passages > 10
    from rag.index.vectors import VectorStore

    assert VectorStore(settings).count() == report.passages
    _top3_has(settings, "Why won't Starmer leave the ECHR?", "jeopardise deportation deals")
    again = build_index(settings)
    assert again.passages_embedded == 0


def test_one_search_per_index_shared_by_backends_and_top_k(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    build_index(settings)
    search = get_search(settings)
    answering = settings.model_copy(update={"backend": "extractive", "top_k": 9, "answer_strategy": "extract"})
    assert get_search(answering) is search  # one BM25 matrix and one sentence cache, whatever answers
    assert get_search(settings.model_copy(update={"candidate_k": 7})) is not search  # retrieval differs
    build_index(settings, rebuild=True)
    reopened = get_search(settings)
    assert reopened is not search  # the rebuilt index is opened afresh, nobody had to call forget_searches
    assert reopened.search("Why won't Starmer leave the ECHR?", 3)
