"""The verifier on claims whose words are all in the cited sentence but whose relation is invented,
with the real local model on real BBC articles (the two cases users met: a debt read as a price, a
rescheduled tie read as a win)."""

from __future__ import annotations

import re

import pytest

from rag.answer.chain import build_chain
from rag.answer.citations import ENTAILED, verify_answer
from rag.answer.cloze import CLOZE_TOKENS, moved_number
from rag.answer.evidence import select_evidence
from rag.answer.prompts import entailment_messages
from rag.answer.retrieve import get_search
from rag.answer.roles import swapped_roles
from rag.answer.verifier import model_entailment
from rag.index.build import build_index
from rag.llm.factory import build_chat_model
from rag.llm.probability import ask_model, choice_scorer, text_scorer
from rag.settings import Settings
from rag.types import EvidenceItem
from tests.conftest import make_settings, seeds_and_bbc

pytestmark = [pytest.mark.integration, pytest.mark.llm]

BATES = "How much did Ken Bates pay to take over Leeds United?"
MUNSTER = "Did Munster beat Biarritz in the Heineken Cup quarter-final?"
ROWS = (10, 279, 0, 1, 2, 3)  # the Bates takeover, the Munster tie switched to San Sebastian, distractors


@pytest.fixture(scope="module")
def bbc_few(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The seeds and a few real BBC articles, indexed."""
    corpus = seeds_and_bbc(tmp_path_factory.mktemp("bbc-few"), rows=ROWS)
    settings = make_settings(tmp_path_factory.mktemp("bbc-few-index"), corpus=corpus)
    build_index(settings)
    return settings.model_copy(update={"backend": "local"})


def _evidence(settings: Settings, question: str, phrase: str) -> tuple[list[EvidenceItem], int]:
    search = get_search(settings)
    items = select_evidence(search.retrieve(question, 5), 6)
    number = next(item.number for item in items if phrase in item.text)
    return items, number


@pytest.mark.parametrize(("question", "phrase", "invented", "true", "lexical_sees_it"), [
    (BATES, "debt of £103m", "Ken Bates paid £103m to take over Leeds United",
     "Leeds United had a debt of £103m when the board took over in March 2004", True),  # a debt is not a price
    (MUNSTER, "san sebastian", "Munster won the Heineken Cup quarter-final against Biarritz in San Sebastian",
     "Munster's Heineken Cup quarter-final against Biarritz was moved to San Sebastian", False),
])
def test_an_invented_relation_is_dropped_and_the_true_one_kept(
    bbc_few: Settings, question: str, phrase: str, invented: str, true: str, lexical_sees_it: bool
) -> None:
    items, n = _evidence(bbc_few, question, phrase)
    scorer = choice_scorer(build_chat_model(bbc_few))

    def entails(evidence: str, claim: str) -> float:
        return scorer(entailment_messages(evidence, claim))["Yes"]

    embedder = get_search(bbc_few).embedder
    # Every word of the invented claim is in the cited sentence: the deterministic score alone keeps it, unless
    # the claim moves a sum of the sentence to another role (rag.answer.support.role_conflict).
    alone = verify_answer(f"{invented} [{n}].", items, embedder.encode, bbc_few.min_support)
    assert alone.refused is lexical_sees_it, alone
    wrong = verify_answer(f"{invented} [{n}].", items, embedder.encode, bbc_few.min_support, entails)
    assert wrong.refused and wrong.dropped, wrong
    right = verify_answer(f"{true} [{n}].", items, embedder.encode, bbc_few.min_support, entails)
    assert not right.refused and right.citations[0].quote == items[n - 1].text, right


@pytest.mark.parametrize("strategy", ["select", "generate"])
@pytest.mark.parametrize(("question", "invented_words"), [(BATES, ("paid", "pay")), (MUNSTER, ("won", "beat", "win"))])
def test_the_user_examples_are_refused_or_corrected(
    bbc_few: Settings, strategy: str, question: str, invented_words: tuple[str, ...]
) -> None:
    answer = build_chain(bbc_few.model_copy(update={"answer_strategy": strategy})).invoke(question)
    print(f"{strategy}: {question} -> {answer.answer!r} (dropped {answer.dropped_sentences})")
    if answer.refused:
        return
    # Corrected: select says only what it quotes; generate keeps only what the cited evidence entails.
    if strategy == "select":
        rest = " ".join(answer.answer.split())
        for citation in answer.citations:
            rest = rest.replace(" ".join(citation.quote.split()).rstrip("."), "")
        assert not re.search(r"[a-z]", re.sub(r"\[\d+\]", "", rest), re.I), rest  # nothing but the quotes
    else:
        text = f" {answer.answer.lower()} "
        assert not any(f" {word} " in text for word in invented_words), answer.answer


def test_a_number_moved_to_another_role_is_caught_by_the_cloze(bbc_few: Settings) -> None:
    """Every number of the claim is in the evidence, so the word checks pass it; filling the blank of
    "…at least ____ tickets" from the evidence, the model gives 8 000, not 12,667."""
    hits = get_search(bbc_few).retrieve("How many tickets will Munster fans get in San Sebastian?", 5).passages
    evidence = next(hit.text for hit in hits if "8 000 tickets" in hit.text and "12 667" in hit.text)
    model = build_chat_model(bbc_few)
    moved = "The Irish province will be given at least 12,667 tickets."
    right = "The Irish province will be given at least 8,000 tickets."
    found = moved_number(moved, evidence, ask_model(model, CLOZE_TOKENS))
    assert found is not None and "8" in found and "12667" in found
    assert moved_number(right, evidence, ask_model(model, CLOZE_TOKENS)) is None
    entails = model_entailment(model)  # the chain's verifier: the cloze after the model's yes
    assert entails(evidence, moved) < ENTAILED <= entails(evidence, right)


def test_two_names_exchanged_are_caught_by_the_role_check(bbc_few: Settings) -> None:
    """Every word of the claim is in the evidence and the model's yes/no passes it; restating the evidence, the
    model finds the claim with "Chelsea" and "City" exchanged back far more likely than the claim."""
    evidence = ("city went into the game with the proud record of being the only domestic team to beat chelsea this "
                "season. and there was little to alarm them in the first 30 minutes as chelsea - deprived of arjen "
                "robben and didier drogba through injury - struggled to pose much of a threat.")  # BBC sport, 2005
    model = build_chat_model(bbc_few)
    swapped = "Chelsea went into the game with the proud record of being the only domestic team to beat City this season."
    right = "City went into the game with the proud record of being the only domestic team to beat Chelsea this season."
    logprob = text_scorer(model)
    assert logprob is not None  # the local model scores forced replies
    found = swapped_roles(swapped, evidence, logprob)
    assert found is not None and "Chelsea" in found and "City" in found
    assert swapped_roles(right, evidence, logprob) is None
    entails = model_entailment(model)  # the chain's verifier: the role check after the model's yes
    assert entails(evidence, swapped) < ENTAILED <= entails(evidence, right)
