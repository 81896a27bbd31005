"""The answering chain as a LangChain Runnable.

question (+ history) -> standalone question -> hybrid retrieval -> evidence
sentences -> LLM (or extractive) -> citation verification -> :class:`Answer`.

``stream`` yields an :class:`EvidenceEvent` as soon as retrieval is done, then
:class:`TokenEvent`s as the model writes (unverified), and ends with the verified
:class:`Answer`. ``invoke`` returns that Answer. An LLM that cannot be loaded or
reached never fails the question: the extractive answer is given with a notice.
Filters in the input (``{"question": ..., "filters": {"publisher": "Sky News"}}``)
restrict retrieval; when no article passes them the answer is a refusal that names them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import CallbackManager
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config

from rag.answer.checks import SPEAKER_TOKENS, answer_mismatch, speaker_mismatch
from rag.answer.citations import Encode, cite_items, is_refusal, verify_answer
from rag.answer.evidence import select_evidence
from rag.answer.extractive import (
    Signals,
    choose_quotes,
    confidence,
    continue_quotes,
    extractive_answer,
    gate_evidence,
    is_none,
    signals,
    unread_quotes,
)
from rag.answer.prompts import (
    NONE,
    REFUSAL_TEXT,
    SPECIAL_TOKEN,
    answer_messages,
    extract_messages,
)
from rag.answer.question import condense_question, needs_context
from rag.answer.retrieve import Search, get_search
from rag.answer.verifier import model_entailment
from rag.errors import QuestionError
from rag.ingest.cleaning import normalize_text
from rag.llm.probability import TOP_LOGPROBS, ask_model, first_token_logprobs, none_probability
from rag.settings import Settings
from rag.text import first_line, missing_names, names, replace_surrogates
from rag.types import (
    Answer,
    EvidenceEvent,
    EvidenceItem,
    Filters,
    RetrievedPassage,
    StreamEvent,
    TokenEvent,
    VerifiedAnswer,
)

log = logging.getLogger(__name__)
_QUOTING = "showing the most relevant sentences instead."

ChainInput = str | Mapping[str, Any]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean_text(text: str) -> str:
    """Lone surrogates (invalid unicode) as U+FFFD, chat-template tokens removed."""
    return SPECIAL_TOKEN.sub("", replace_surrogates(text))


def clean_question(question: object, max_chars: int) -> str:
    """The question as text, or QuestionError with what is wrong."""
    if not isinstance(question, str):
        raise QuestionError(f"The question must be text, not {type(question).__name__}.")
    # Lone surrogates (invalid unicode) become U+FFFD instead of crashing later.
    text = _clean_text(question)
    text = " ".join(normalize_text(_CONTROL.sub(" ", text)).split())
    if not text:
        raise QuestionError("The question is empty: type a question about the articles.")
    if len(text) > max_chars:
        raise QuestionError(
            f"The question is {len(text):,} characters long; the limit is {max_chars:,} (RAG_MAX_QUESTION_CHARS)."
        )
    return text


def _history_pairs(history: object) -> list[tuple[str, str]]:
    """Accept [(user, assistant)], [{"role", "content"}] or LangChain messages."""
    if not history:
        return []
    if not isinstance(history, Sequence) or isinstance(history, str):
        raise QuestionError("chat_history must be a list of (user, assistant) pairs or of messages.")
    pairs: list[tuple[str, str]] = []
    pending_user: str | None = None
    for turn in history:
        if isinstance(turn, (tuple, list)) and len(turn) == 2:
            pairs.append((_clean_text(str(turn[0] or "")), _clean_text(str(turn[1] or ""))))
            continue
        if isinstance(turn, BaseMessage):
            role, content = turn.type, turn.content
        elif isinstance(turn, Mapping):
            role, content = turn.get("role"), turn.get("content")
        else:
            raise QuestionError(f"Unrecognised chat_history entry: {turn!r:.80}")
        text = _clean_text(content if isinstance(content, str) else str(content))
        if role in ("user", "human"):
            pending_user = text
        elif role in ("assistant", "ai") and pending_user is not None:
            pairs.append((pending_user, text))
            pending_user = None
    return pairs


def parse_input(value: ChainInput, max_chars: int) -> tuple[str, list[tuple[str, str]]]:
    if isinstance(value, Mapping):
        return clean_question(value.get("question"), max_chars), _history_pairs(value.get("chat_history"))
    return clean_question(value, max_chars), []


def parse_filters(value: ChainInput) -> Filters | None:
    """The input's ``filters`` (a :class:`Filters` or its mapping form), checked: FilterError says what is wrong."""
    return Filters.parse(value.get("filters")) if isinstance(value, Mapping) else None


class RagChain(Runnable[ChainInput, Answer]):
    """Grounded answering over the index. Accepts a question string or
    ``{"question": ..., "chat_history": [...], "filters": {...}}``; returns an :class:`Answer`."""

    name = "RagChain"

    def __init__(
        self, settings: Settings | None = None, chat_model: BaseChatModel | None = None, search: Search | None = None
    ) -> None:
        self.settings = settings or Settings()
        self._chat_model = chat_model
        self._model_lock = threading.Lock()
        self._search = search  # None: the index's shared search, looked up per question (a rebuild is picked up)

    @property
    def InputType(self) -> type[ChainInput]:  # type: ignore[override]
        return ChainInput  # type: ignore[return-value]

    @property
    def OutputType(self) -> type[Answer]:
        return Answer

    def search(self) -> Search:
        """Retrieval: the search given at construction, else the index's shared one."""
        return self._search if self._search is not None else get_search(self.settings)

    # --- the model -----------------------------------------------------------
    def chat_model(self) -> BaseChatModel | None:
        """The configured chat model, built on first use; None in extractive mode."""
        if self.settings.backend == "extractive":
            return None
        with self._model_lock:
            if self._chat_model is None:
                from rag.llm.factory import build_chat_model

                self._chat_model = build_chat_model(self.settings)
            return self._chat_model

    def warm_up(self) -> None:
        """Open the index, load the model and read its fixed prompt into the cache, so the first question is quick."""
        self.search().retrieve("warm up", 1)
        model, notice = self._model_or_notice()
        if model is None:
            if notice:
                log.warning("%s", notice)
            return
        from rag.llm.factory import check_backend

        check_backend(model)
        if self.settings.strategy() == "select":
            model.invoke(extract_messages("warm up", ["warm up"]), max_tokens=1)  # its system prompt, now cached
        elif self.settings.strategy() == "generate":
            model.invoke(answer_messages("warm up", []), max_tokens=1)

    # --- Runnable interface --------------------------------------------------
    def invoke(self, input: ChainInput, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        answer: Answer | None = None
        for event in self.stream(input, config, **kwargs):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(  # type: ignore[override]
        self, input: ChainInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[StreamEvent]:
        config = ensure_config(config)
        callbacks = CallbackManager.configure(config.get("callbacks"), None, False, config.get("tags"), None,
                                              config.get("metadata"))
        run = callbacks.on_chain_start(None, {"input": input}, name=config.get("run_name") or self.name)
        try:
            answer = None
            for event in self._events(input):
                if isinstance(event, Answer):
                    answer = event
                yield event
        except BaseException as exc:
            run.on_chain_error(exc)
            raise
        run.on_chain_end({"output": answer.model_dump() if answer else None})

    async def ainvoke(self, input: ChainInput, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        return await asyncio.to_thread(self.invoke, input, config, **kwargs)

    async def astream(  # type: ignore[override]
        self, input: ChainInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[StreamEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def produce() -> None:
            try:
                for event in self.stream(input, config, **kwargs):
                    loop.call_soon_threadsafe(queue.put_nowait, ("event", event))
            except BaseException as exc:  # re-raised in the consumer
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
            loop.call_soon_threadsafe(queue.put_nowait, ("done", None))

        worker = threading.Thread(target=produce, daemon=True, name="rag-astream")
        worker.start()
        while True:
            kind, value = await queue.get()
            if kind == "event":
                yield value
            elif kind == "error":
                raise value
            else:
                return

    # --- the pipeline ----------------------------------------------------------
    def _events(self, input: ChainInput) -> Iterator[StreamEvent]:
        s = self.settings
        started = time.perf_counter()
        question, history = parse_input(input, s.max_question_chars)
        filters = parse_filters(input)
        timings: dict[str, float] = {}
        strategy = s.strategy()

        # The model is loaded before retrieval only when rewriting needs it, so the
        # evidence is never held back by a cold model load.
        model: BaseChatModel | None = None
        notice: str | None = None
        if history and needs_context(question):
            model, notice = self._model_or_notice()
        standalone = condense_question(history, question, model)
        search = self.search()
        # A Search written before filters existed takes (query, k) only.
        retrieval = (search.retrieve(standalone, s.top_k, filters) if filters is not None
                     else search.retrieve(standalone, s.top_k))
        passages = list(retrieval.passages)
        timings["retrieval"] = time.perf_counter() - started
        yield EvidenceEvent(standalone_question=standalone, passages=tuple(passages))

        def finish(
            verified: VerifiedAnswer, backend: str, notice: str | None, reason: str | None = None, *,
            refused_at: str | None = None, items: Sequence[EvidenceItem] = (), draft: str | None = None,
            gate: Gate | None = None,
        ) -> Answer:
            timings["total"] = time.perf_counter() - started
            refused = verified.refused
            if refused:
                log.info("refused at %s (%.2f s): %s", refused_at or "verification", timings["total"], reason)
            else:
                log.info("answered by %s/%s with %d citations (%.2f s)", backend, strategy, len(verified.citations),
                         timings["total"])
            return Answer(
                question=question,
                standalone_question=standalone,
                answer=REFUSAL_TEXT if refused else verified.text,
                refused=refused,
                refusal_reason=(reason or "no passage supports an answer") if refused else None,
                citations=tuple(verified.citations),
                passages=tuple(passages),
                dropped_sentences=tuple(verified.dropped),
                backend=backend,
                notice=notice,
                timings={k: round(v, 4) for k, v in timings.items()},
                strategy="extract" if backend == "extractive" else strategy,
                evidence=tuple(item.text for item in items),
                draft=draft,
                refused_at=(refused_at or "verification") if refused else None,
                confidence=None if gate is None else round(gate.confidence, 4),
                signals={} if gate is None else gate.signals.as_dict(),
                short_answer=None if gate is None else gate.phrase,
                filters=retrieval.filters,
                filter_note=retrieval.filter_note(),
            )

        if retrieval.filters is not None and not passages:
            yield finish(VerifiedAnswer(text="", refused=True), s.backend, notice, retrieval.no_match_reason(),
                         refused_at="filters")
            return

        best = max((p.relevance for p in passages), default=0.0)
        if best < s.min_relevance:
            yield finish(VerifiedAnswer(text="", refused=True), s.backend, notice,
                         f"no passage is relevant enough (best relevance {best:.2f} < {s.min_relevance:.2f})"
                         + retrieval.searched_among(), refused_at="relevance")
            return

        unknown = missing_names(standalone, " ".join(f"{p.title} {p.text}" for p in passages))
        if unknown and unknown == names(standalone):
            listed = ", ".join(sorted(unknown))
            yield finish(VerifiedAnswer(text="", refused=True), s.backend, notice,
                         f"the retrieved passages never mention {listed}" + retrieval.searched_among(), refused_at="names")
            return

        pool = s.evidence_sentences if strategy == "generate" else s.answer_candidates
        items = select_evidence(retrieval, pool)
        timings["evidence"] = time.perf_counter() - started
        if model is None and notice is None and strategy != "extract":
            model, notice = self._model_or_notice()
        if model is None:
            yield finish(extractive_answer(items, s.answer_sentences, passages), "extractive", notice, items=items)
            return

        if strategy == "select":
            quotes = choose_quotes(items, s.answer_sentences)
            draft = cite_items(continue_quotes(quotes, passages))
            try:
                gate = self._gate(model, standalone, quotes, best)
            except Exception as exc:  # unreachable server, no log-probabilities: quote without the check
                log.warning("LLM gate failed (%s); answering extractively", exc)
                fallback = f"The language model failed ({first_line(exc)}); " + _QUOTING
                yield finish(draft, "extractive", fallback, items=items, draft=draft.text)
                return
            timings["gate"] = time.perf_counter() - started
            if gate.confidence < s.min_confidence:
                if is_none(gate.phrase):
                    why = "found no answer in the best sentences"
                elif gate.signals.found == 0.0:
                    why = f"answered {gate.phrase!r}, which the best sentences do not say"
                else:
                    why = f"was not confident that the best sentences answer ({gate.phrase!r})"
                reason = f"the language model {why} (confidence {gate.confidence:.2f} < {s.min_confidence:.2f})"
                yield finish(VerifiedAnswer(text="", refused=True), s.backend, notice, reason,
                             refused_at="gate", items=items, draft=draft.text, gate=gate)
                return
            mismatch = self._check(model, standalone, gate, quotes, passages)
            timings["check"] = time.perf_counter() - started
            if mismatch:
                yield finish(VerifiedAnswer(text="", refused=True), s.backend, notice, mismatch,
                             refused_at="check", items=items, draft=draft.text, gate=gate)
                return
            yield finish(draft, s.backend, notice, items=items, draft=draft.text, gate=gate)
            return

        raw: list[str] = []
        try:
            for token in self._generate(model, standalone, items):
                if not raw:
                    timings["first_token"] = time.perf_counter() - started
                raw.append(token)
                yield TokenEvent(text=token)
        except Exception as exc:  # unreachable server, crashed model: answer without it
            log.warning("LLM backend failed (%s); answering extractively", exc)
            fallback = f"The language model failed ({first_line(exc)}); " + _QUOTING
            yield finish(extractive_answer(items, s.answer_sentences, passages), "extractive", fallback, items=items)
            return
        text = "".join(raw)
        before = time.perf_counter()
        verified = self._verify(model, text, items, search.encode)
        timings["verification"] = time.perf_counter() - before  # a duration, not a time since the question
        refused_at = "model" if is_refusal(text) else "verification"
        yield finish(verified, s.backend, notice, refused_at=refused_at, items=items, draft=text)

    def _gate(self, model: BaseChatModel, question: str, quotes: Sequence[EvidenceItem], relevance: float) -> Gate:
        """The select strategy's check: the phrase the model copies from the quotes as the answer, P(it says NONE).

        The gate reads ~800 characters, often one or two of the quoted spans. Before it refuses, it reads the
        spans it had no room for, once: a second call only for questions about to be refused (see
        evals/README.md, "A second reading"). A refusal keeps the first reading's reason.
        """
        first = self._copy(model, question, quotes, relevance)
        if first.confidence >= self.settings.min_confidence:
            return first
        unread = unread_quotes(quotes)
        if not unread:
            return first
        second = self._copy(model, question, unread, relevance)
        return second if second.confidence >= self.settings.min_confidence else first

    def _copy(self, model: BaseChatModel, question: str, quotes: Sequence[EvidenceItem], relevance: float) -> Gate:
        """One reading: the phrase the model copies from what ``gate_evidence`` shows of the quotes, and P(NONE)."""
        texts = gate_evidence(quotes)
        if not texts:
            return Gate(signals(question, texts, relevance, NONE, 0.0), 0.0, NONE)
        reply = model.invoke(extract_messages(question, texts), max_tokens=EXTRACT_TOKENS, logprobs=True,
                             top_logprobs=TOP_LOGPROBS)
        phrase = " ".join(str(reply.content).split())
        try:
            p_answer = 1.0 - none_probability(first_token_logprobs(dict(reply.response_metadata)))
        except (KeyError, IndexError, TypeError, ValueError):  # a server without log-probabilities
            p_answer = 0.0 if is_none(phrase) else 1.0
        found = signals(question, texts, relevance, phrase, p_answer)
        return Gate(found, confidence(found), phrase, cut=reply.response_metadata.get("finish_reason") == "length")

    def _check(
        self, model: BaseChatModel, question: str, gate: Gate, quotes: Sequence[EvidenceItem],
        passages: Sequence[RetrievedPassage],
    ) -> str | None:
        """Why the phrase the gate copied cannot answer the question (None: it can), for the select strategy."""
        spans = [item.text for item in quotes]
        phrase = gate.phrase
        found = answer_mismatch(question, phrase, spans, cut=gate.cut)
        if found:
            return found
        context = " ".join([*spans, *(f"{p.title} {p.text}" for p in passages)])
        try:
            return speaker_mismatch(question, phrase, spans, context, ask_model(model, SPEAKER_TOKENS))
        except Exception as exc:  # the gate's own call worked; a failure here only loses this check
            log.warning("speaker check failed (%s); answering without it", exc)
            return None

    def _verify(
        self, model: BaseChatModel, text: str, items: Sequence[EvidenceItem], encode: Encode
    ) -> VerifiedAnswer:
        """The generated answer, sentence by sentence: the model judges entailment, the lexical checks veto."""
        s = self.settings
        if not s.verify_with_llm:
            return verify_answer(text, items, encode, s.min_support)
        try:
            return verify_answer(text, items, encode, s.min_support, model_entailment(model))
        except Exception as exc:  # a server without log-probabilities: the deterministic score alone
            log.warning("LLM verification failed (%s); verifying with the deterministic score", exc)
            return verify_answer(text, items, encode, s.min_support)

    def _model_or_notice(self) -> tuple[BaseChatModel | None, str | None]:
        if self.settings.backend == "extractive":
            return None, None
        try:
            return self.chat_model(), None
        except Exception as exc:  # BackendError, ImportError, llama.cpp load errors
            log.warning("cannot load the %s backend: %s", self.settings.backend, exc)
            return None, f"The language model is unavailable ({first_line(exc)}); " + _QUOTING

    def _generate(self, model: BaseChatModel, question: str, items: Sequence[EvidenceItem]) -> Iterator[str]:
        for chunk in model.stream(answer_messages(question, items)):
            text = chunk.content if isinstance(chunk.content, str) else ""
            if text:
                yield text


@dataclass(frozen=True)
class Gate:
    """The select strategy's verdict on the quoted sentences."""

    signals: Signals
    confidence: float
    phrase: str  # what the model copied from the quotes as the answer (NONE: no answer there)
    cut: bool = False  # the phrase reached EXTRACT_TOKENS: its end (often the answer itself) is missing


# The copied answer phrase is short; a longer reply is cut (and its words are still checked).
EXTRACT_TOKENS = 24


def build_chain(
    settings: Settings | None = None, chat_model: BaseChatModel | None = None, search: Search | None = None
) -> RagChain:
    """The answering chain over the configured index (a LangChain Runnable)."""
    return RagChain(settings, chat_model, search)

