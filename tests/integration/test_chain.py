"""The answering chain: Runnable interface, refusals, fallback, multi-turn, and the real local model."""


from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rag import Answer, Settings, build_chain
from rag.index.catalog import Catalog
from rag.types import EvidenceEvent, TokenEvent

ECHR = "Why won't Starmer leave the ECHR?"


# --- extractive backend over the real index -----------------------------------------
@pytest.mark.integration
def test_extractive_answer_is_cited_into_the_articles(seed_settings: Settings) -> None:
    answer = build_chain(seed_settings).invoke(ECHR)
    assert isinstance(answer, Answer) and not answer.refused and answer.backend == "extractive"
    assert answer.citations and "[1]" in answer.answer
    catalog = Catalog(Path(seed_settings.index_dir))
    for citation in answer.citations:
        article = catalog.get_article(citation.article_id)
        assert article is not None and article.text[citation.start : citation.end] == citation.quote
    assert any("jeopardise deportation deals" in c.quote for c in answer.citations)
    assert {"retrieval", "total"} <= set(answer.timings)


@pytest.mark.integration
@pytest.mark.parametrize(
    "question",
    ["What is the capital of Australia?", "How strong were the winds brought by Storm Bram?",
     "What did Kemi Badenoch refuse to say?"],
)
def test_unanswerable_questions_are_refused_extractively(seed_settings: Settings, question: str) -> None:
    answer = build_chain(seed_settings).invoke(question)
    assert answer.refused and not answer.citations
    assert answer.answer == "The articles don't cover this."
    assert answer.refusal_reason


@pytest.mark.integration
def test_stream_gives_evidence_first_and_ends_with_the_answer(seed_settings: Settings) -> None:
    events = list(build_chain(seed_settings).stream({"question": ECHR, "chat_history": []}))
    assert isinstance(events[0], EvidenceEvent) and events[0].passages
    assert isinstance(events[-1], Answer)
    assert events[-1].passages == events[0].passages


@pytest.mark.integration
def test_batch_and_async(seed_settings: Settings) -> None:
    chain = build_chain(seed_settings)
    answers = chain.batch([ECHR, "What did Amnesty International UK say?"])
    assert [a.question for a in answers] == [ECHR, "What did Amnesty International UK say?"]

    async def run() -> tuple[Answer, list[object]]:
        single = await chain.ainvoke(ECHR)
        streamed = [event async for event in chain.astream(ECHR)]
        return single, streamed

    single, streamed = asyncio.run(run())
    assert single.answer == answers[0].answer
    assert isinstance(streamed[0], EvidenceEvent) and isinstance(streamed[-1], Answer)


@pytest.mark.integration
def test_follow_up_uses_history_extractively(seed_settings: Settings) -> None:
    history = [("What did Suella Braverman say about the ECHR?",
                "She said that without leaving the ECHR the UK cannot take back control of its borders.")]
    answer = build_chain(seed_settings).invoke(
        {"question": "And what did she say about the Prime Minister's lawyers?", "chat_history": history}
    )
    assert "Braverman" in answer.standalone_question
    assert not answer.refused
    assert any("lawyer mates" in c.quote for c in answer.citations)


@pytest.mark.integration
def test_unreachable_llm_falls_back_to_extractive(seed_settings: Settings) -> None:
    settings = seed_settings.model_copy(update={"backend": "openai", "openai_base_url": "http://127.0.0.1:9/v1",
                                                "llm_timeout_s": 5.0})
    answer = build_chain(settings).invoke(ECHR)
    assert answer.backend == "extractive" and answer.notice and "language model" in answer.notice
    assert not answer.refused and answer.citations


@pytest.mark.integration
def test_missing_model_file_falls_back_with_a_notice(seed_settings: Settings, tmp_path: Path) -> None:
    settings = seed_settings.model_copy(update={"backend": "local", "llm_model_path": tmp_path / "nope.gguf"})
    answer = build_chain(settings).invoke(ECHR)
    assert answer.backend == "extractive" and answer.notice and "unavailable" in answer.notice


# --- the real local model ---------------------------------------------------------
@pytest.fixture(scope="module")
def local_chain(seed_settings: Settings):  # type: ignore[no-untyped-def]
    return build_chain(seed_settings.model_copy(update={"backend": "local"}))


@pytest.mark.integration
@pytest.mark.llm
def test_local_model_selects_and_quotes_the_echr_answer(local_chain, seed_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    events = list(local_chain.stream(ECHR))
    answer = events[-1]
    assert isinstance(answer, Answer) and answer.backend == "local" and answer.strategy == "select", answer
    assert not answer.refused, answer.refusal_reason
    assert not any(isinstance(e, TokenEvent) for e in events)  # nothing unverified is streamed
    assert "jeopardise deportation deals" in answer.answer and "international law" in answer.answer
    assert answer.confidence is not None and answer.confidence >= seed_settings.min_confidence
    assert 0.0 <= answer.signals["p_yes"] <= 1.0
    for c in answer.citations:  # every quote is the article's exact span
        article = next(p for p in answer.passages if p.passage_id == c.passage_id)
        assert article.text[c.start - article.start : c.end - article.start] == c.quote
    assert "000_f14baaa9ae4bf647.txt" in {c.source for c in answer.citations}  # the Daily Express article
    assert answer.timings["gate"] <= answer.timings["total"]


@pytest.mark.integration
@pytest.mark.llm
def test_local_model_generate_strategy_writes_and_verifies(seed_settings: Settings) -> None:
    chain = build_chain(seed_settings.model_copy(update={"backend": "local", "answer_strategy": "generate"}))
    events = list(chain.stream(ECHR))
    answer = events[-1]
    assert isinstance(answer, Answer) and answer.strategy == "generate" and not answer.refused, answer
    assert any(isinstance(e, TokenEvent) for e in events) and answer.draft
    text = answer.answer.lower()
    assert "deportation deals" in text or "returns deals" in text
    assert answer.citations and all(c.support >= seed_settings.min_support for c in answer.citations)
    assert answer.timings["first_token"] <= answer.timings["total"]


@pytest.mark.integration
@pytest.mark.llm
def test_local_model_follow_up_keeps_the_users_question(local_chain) -> None:  # type: ignore[no-untyped-def]
    history = [("What did Jordan Bardella say he would do about British patrol boats?",
                "He would rewrite his country's border policy to let them push back small boats.")]
    answer = local_chain.invoke({"question": "How did he describe the one-in, one-out agreement?",
                                 "chat_history": history})
    # Whether the model's rewrite or the pronoun resolution that replaces a bad one: still a how-question, about him.
    assert answer.standalone_question.startswith("How ") and "Bardella" in answer.standalone_question
    assert not answer.refused and "sticking plaster" in answer.answer, answer


@pytest.mark.integration
@pytest.mark.llm
def test_local_model_follow_up_two_turns_on_finds_the_topic(local_chain) -> None:  # type: ignore[no-untyped-def]
    history = [("Why won't Starmer leave the ECHR?",
                "Keir Starmer ruled out quitting the ECHR because it would jeopardise deportation deals."),
               ("What did his deputy say about it?",
                "Speaking in Strasbourg, the deputy prime minister argued that pulling out would be a fake solution.")]
    answer = local_chain.invoke({"question": "Which parties want to leave it?", "chat_history": history})
    # "it" is two turns back: the rewrite or the heuristic's appended questions must reach the ECHR.
    assert answer.standalone_question.startswith("Which ") and "ECHR" in answer.standalone_question, answer
    assert not answer.refused and "Reform UK" in answer.answer, answer


@pytest.mark.integration
@pytest.mark.llm
@pytest.mark.parametrize("question", [
    "What is the capital of Australia?", "How many migrants did the UK deport in 2024?",
    "What did Kemi Badenoch say about the ECHR?",  # named only in a link under an article; quotes are narration
    "What did Shabana Mahmood say about Article 8?",  # never named: the quotes are Sir Keir's words
    "What target did Starmer set for net migration?",  # "…but refused to set a target number"
])
def test_local_model_refuses_what_the_articles_do_not_say(local_chain, question: str) -> None:  # type: ignore[no-untyped-def]
    answer = local_chain.invoke(question)
    assert answer.refused, answer.answer


@pytest.mark.integration
@pytest.mark.llm
def test_local_model_refuses_a_reply_that_only_repeats_the_question(local_chain) -> None:  # type: ignore[no-untyped-def]
    # The articles mention the Home Secretary but never name her: the model copies the role itself.
    answer = local_chain.invoke("What is the name of the Home Secretary who has been working on the new migration deals?")
    assert answer.refused and answer.refused_at == "check", answer
    assert "only repeats the question" in (answer.refusal_reason or ""), answer.refusal_reason


@pytest.mark.integration
@pytest.mark.llm
def test_local_model_says_who_someone_is(local_chain) -> None:  # type: ignore[no-untyped-def]
    # The model copies the name itself; the quotes shown are the sentence that says who he is.
    answer = local_chain.invoke("Who is Alain Berset?")
    assert not answer.refused and "secretary general" in answer.answer, answer


# --- the select strategy's decisions, with a canned model in place of the LLM ---------------
@pytest.mark.integration
@pytest.mark.parametrize(("reply", "refused", "why"), [
    ("jeopardise deportation deals", False, None),
    ("NONE", True, "found no answer"),
    ("100", True, "which the best sentences do not say"),  # a number from the model's own knowledge
])
def test_select_quotes_or_refuses_on_the_models_copied_phrase(
    seed_settings: Settings, reply: str, refused: bool, why: str | None
) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    settings = seed_settings.model_copy(update={"backend": "local"})
    chain = build_chain(settings, chat_model=FakeListChatModel(responses=[reply]))
    answer = chain.invoke(ECHR)
    assert answer.strategy == "select" and answer.short_answer == reply and answer.refused is refused, answer
    assert answer.draft and answer.evidence  # the quotes it would have given, recorded either way
    if refused:
        assert answer.refused_at == "gate" and why in (answer.refusal_reason or "") and not answer.citations
    else:
        assert answer.answer == answer.draft and "jeopardise deportation deals" in answer.answer
        assert answer.signals["found"] == 1.0 and (answer.confidence or 0) > 0.99  # no log-probabilities: the phrase alone


@pytest.mark.integration
@pytest.mark.parametrize(("question", "reply", "why"), [
    ("What did Starmer say about the ECHR in 1998?", "jeopardise deportation deals", "never mention 1998"),
    ("What was the result of the vote on leaving the ECHR?", "yes", "does not answer a what-question"),
    ("Why did Keir Starmer rule out leaving the ECHR?", "Keir Starmer ruled out leaving the ECHR.",
     "only repeats the question"),
])
def test_select_refuses_a_copied_phrase_that_does_not_fit_the_question(
    seed_settings: Settings, question: str, reply: str, why: str
) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    settings = seed_settings.model_copy(update={"backend": "local"})
    answer = build_chain(settings, chat_model=FakeListChatModel(responses=[reply])).invoke(question)
    assert answer.refused and answer.refused_at == "check" and why in (answer.refusal_reason or ""), answer
    assert answer.short_answer == reply and answer.draft and not answer.citations


@pytest.mark.integration
@pytest.mark.llm
@pytest.mark.parametrize(("question", "mismatch"), [
    ("What did Justine Henin-Hardenne say about being linked to the doping row?", True),
    ("What did Nathalie Dechy say about being linked to the doping row?", False),
])
def test_local_model_names_the_speaker_of_the_copied_words(local_chain, question: str, mismatch: bool) -> None:  # type: ignore[no-untyped-def]
    from rag.answer.checks import SPEAKER_TOKENS, speaker_mismatch

    spans = ["France's Nathalie Dechy said she was upset at being linked to the Svetlana Kuznetsova doping row. "
             "\"I'm really upset about it and I think the Belgian government did a really bad job,\" Dechy said."]
    model = local_chain.chat_model()
    found = speaker_mismatch(question, "I'm really upset about it", spans, spans[0],
                             lambda messages: str(model.invoke(messages, max_tokens=SPEAKER_TOKENS).content))
    assert (found is not None) is mismatch, found
