"""Citation parsing (pure) and verification (with the real embedder, on seed evidence)."""


from __future__ import annotations

from pathlib import Path

import pytest

from rag.answer.citations import verify_answer
from rag.answer.evidence import select_evidence
from rag.answer.retrieve import get_search
from rag.embeddings import get_embedder
from rag.index.catalog import Catalog
from rag.settings import Settings
from rag.types import EvidenceItem


@pytest.fixture(scope="module")
def echr_evidence(seed_settings: Settings) -> list[EvidenceItem]:
    search = get_search(seed_settings)
    question = "Why won't Starmer leave the ECHR?"
    return select_evidence(search.retrieve(question, 5), 6)


def _number_of(items: list[EvidenceItem], phrase: str) -> int:
    return next(item.number for item in items if phrase in item.text)


@pytest.mark.integration
def test_evidence_offsets_point_into_the_article(seed_settings: Settings, echr_evidence: list[EvidenceItem]) -> None:
    catalog = Catalog(Path(seed_settings.index_dir))
    assert [item.number for item in echr_evidence] == list(range(1, len(echr_evidence) + 1))
    for item in echr_evidence:
        article = catalog.get_article(item.passage.article_id)
        assert article is not None and article.text[item.start : item.end] == item.text
    assert any("jeopardise deportation deals" in item.text for item in echr_evidence)


@pytest.mark.integration
def test_planted_unsupported_sentence_is_dropped(seed_settings: Settings, echr_evidence: list[EvidenceItem]) -> None:
    n = _number_of(echr_evidence, "jeopardise deportation deals")
    answer = (
        f"Starmer ruled out quitting the ECHR because it would jeopardise deportation deals [{n}]. "
        f"He also promised a referendum on leaving the European Union in 2027 [{n}]."
    )
    encode = get_embedder(seed_settings.resolved_embedding_model()).encode
    verified = verify_answer(answer, echr_evidence, encode, 0.5)
    assert not verified.refused
    assert "referendum" not in verified.text
    assert verified.dropped == ["He also promised a referendum on leaving the European Union in 2027."]
    assert verified.text.endswith("jeopardise deportation deals [1].")
    (citation,) = verified.citations
    assert citation.marker == 1 and "jeopardise deportation deals" in citation.quote


@pytest.mark.integration
def test_wrong_citation_is_reattached(seed_settings: Settings, echr_evidence: list[EvidenceItem]) -> None:
    right = _number_of(echr_evidence, "jeopardise deportation deals")
    wrong = next(item.number for item in echr_evidence if item.number != right and "deportation" not in item.text)
    answer = f"Starmer ruled out quitting the ECHR because it would jeopardise deportation deals [{wrong}]."
    encode = get_embedder(seed_settings.resolved_embedding_model()).encode
    verified = verify_answer(answer, echr_evidence, encode, 0.5)
    assert [c.passage_id for c in verified.citations] == [echr_evidence[right - 1].passage.passage_id]
    assert "jeopardise deportation deals" in verified.citations[0].quote


@pytest.mark.integration
def test_answer_with_nothing_supported_is_a_refusal(seed_settings: Settings, echr_evidence: list[EvidenceItem]) -> None:
    answer = "Canberra is the capital of Australia [1]. Kangaroos are marsupials [2]."
    encode = get_embedder(seed_settings.resolved_embedding_model()).encode
    verified = verify_answer(answer, echr_evidence, encode, 0.5)
    assert verified.refused and len(verified.dropped) == 2


@pytest.mark.integration
def test_unknown_marker_is_never_a_citation(seed_settings: Settings, echr_evidence: list[EvidenceItem]) -> None:
    answer = "Starmer ruled out quitting the ECHR because it would jeopardise deportation deals [99]."
    encode = get_embedder(seed_settings.resolved_embedding_model()).encode
    verified = verify_answer(answer, echr_evidence, encode, 0.5)
    numbers = {item.passage.passage_id for item in echr_evidence}
    assert verified.citations and all(c.passage_id in numbers for c in verified.citations)


@pytest.mark.integration
def test_a_name_from_elsewhere_in_the_cited_article_is_allowed_but_not_one_from_another_article(
    seed_settings: Settings,
) -> None:
    """The sentence says "the declaration"; another evidence passage of its article says where it was signed."""
    search = get_search(seed_settings)
    question = "What does the Strasbourg declaration say about foreign offenders?"
    items = select_evidence(search.retrieve(question, 5), 6)
    n = _number_of(items, "expulsion and return of foreigners")
    cited = next(item for item in items if item.number == n)
    assert "Strasbourg" not in cited.passage.text
    assert any("Strasbourg" in item.passage.text for item in items
               if item.passage.article_id == cited.passage.article_id)
    embedder = get_embedder(seed_settings.resolved_embedding_model())
    claim = ("The Strasbourg declaration promises to consider the challenges relating to the expulsion and return "
             "of foreigners convicted of serious offences")
    kept = verify_answer(f"{claim} [{n}].", items, embedder.encode, seed_settings.min_support)
    assert not kept.refused and [c.marker for c in kept.citations] == [1]
    # The same sentence pinned on a name no evidence article mentions is dropped.
    invented = verify_answer(f"{claim.replace('Strasbourg', 'Bratislava')} [{n}].", items, embedder.encode,
                             seed_settings.min_support)
    assert invented.refused


@pytest.mark.integration
def test_the_model_verdict_decides_and_the_lexical_checks_veto(
    seed_settings: Settings, echr_evidence: list[EvidenceItem]
) -> None:
    """verify_answer with an entailment function (here a stand-in for the LLM judge, to pin the rule)."""
    embedder = get_embedder(seed_settings.resolved_embedding_model())
    n = _number_of(echr_evidence, "jeopardise deportation deals")
    answer = f"Starmer said quitting the ECHR would jeopardise deportation deals [{n}]."
    asked: list[tuple[str, str]] = []

    def says(p: float):  # type: ignore[no-untyped-def]
        def entails(evidence: str, claim: str) -> float:
            asked.append((evidence, claim))
            return p
        return entails

    kept = verify_answer(answer, echr_evidence, embedder.encode, seed_settings.min_support, says(0.9))
    assert not kept.refused and kept.citations[0].support == 0.9
    assert asked[0][0] == echr_evidence[n - 1].text  # the cited item is asked first
    # Every word is in the evidence, but the model says the relation is not: dropped, the answer refused.
    dropped = verify_answer(answer, echr_evidence, embedder.encode, seed_settings.min_support, says(0.1))
    assert dropped.refused and dropped.dropped == ["Starmer said quitting the ECHR would jeopardise deportation deals."]
    # A number the evidence lacks is vetoed whatever the model says, and the model is not even asked.
    asked.clear()
    vetoed = verify_answer(f"Starmer said 40 deportation deals would be at risk [{n}].", echr_evidence, embedder.encode,
                           seed_settings.min_support, says(0.99))
    assert vetoed.refused and not any("40" in claim for _, claim in asked)
