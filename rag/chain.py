"""The answering chain as a LangChain Runnable.

question (+ history) -> standalone question -> hybrid retrieval -> evidence
sentences -> LLM (or extractive) -> citation verification -> :class:`Answer`.

``stream`` yields an :class:`EvidenceEvent` as soon as retrieval is done, then
:class:`TokenEvent`s as the model writes (unverified), and ends with the verified
:class:`Answer`. ``invoke`` returns that Answer. An LLM that cannot be loaded or
reached never fails the question: the extractive answer is given with a notice.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManager
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config

from rag.cleaning import normalize_text
from rag.citations import VerifiedAnswer, verify_answer
from rag.condense import condense_question, needs_context
from rag.embeddings import get_embedder
from rag.errors import QuestionError
from rag.evidence import EvidenceItem, select_evidence
from rag.extractive import extractive_answer
from rag.prompts import REFUSAL_TEXT, SPECIAL_TOKEN, answer_messages
from rag.retrieve import get_search
from rag.settings import Settings
from rag.support import missing_names, names
from rag.types import Answer, EvidenceEvent, StreamEvent, TokenEvent

log = logging.getLogger(__name__)

ChainInput = str | Mapping[str, Any]

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean_text(text: str) -> str:
    """Lone surrogates (invalid unicode) as U+FFFD, chat-template tokens removed."""
    return SPECIAL_TOKEN.sub("", _SURROGATE.sub("\ufffd", text))


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


class RagChain(Runnable[ChainInput, Answer]):
    """Grounded answering over the index. Accepts a question string or
    ``{"question": ..., "chat_history": [...]}``; returns an :class:`Answer`."""

    name = "RagChain"

    def __init__(self, settings: Settings | None = None, chat_model: BaseChatModel | None = None) -> None:
        self.settings = settings or Settings()
        self._chat_model = chat_model
        self._model_lock = threading.Lock()

    @property
    def InputType(self) -> type[ChainInput]:  # type: ignore[override]
        return ChainInput  # type: ignore[return-value]

    @property
    def OutputType(self) -> type[Answer]:
        return Answer

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
        timings: dict[str, float] = {}

        # The model is loaded before retrieval only when rewriting needs it, so the
        # evidence is never held back by a cold model load.
        model: BaseChatModel | None = None
        notice: str | None = None
        if history and needs_context(question):
            model, notice = self._model_or_notice()
        standalone = condense_question(history, question, model)
        search = get_search(s)
        passages = search.search(standalone, s.top_k)
        timings["retrieval"] = time.perf_counter() - started
        yield EvidenceEvent(standalone_question=standalone, passages=tuple(passages))

        def finish(verified: VerifiedAnswer, backend: str, notice: str | None, reason: str | None = None) -> Answer:
            timings["total"] = time.perf_counter() - started
            refused = verified.refused
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
            )

        best = max((p.relevance for p in passages), default=0.0)
        if best < s.min_relevance:
            yield finish(VerifiedAnswer(text="", refused=True), s.backend, notice,
                         f"no passage is relevant enough (best relevance {best:.2f} < {s.min_relevance:.2f})")
            return

        unknown = missing_names(standalone, " ".join(f"{p.title} {p.text}" for p in passages))
        if unknown and unknown == names(standalone):
            listed = ", ".join(sorted(unknown))
            yield finish(VerifiedAnswer(text="", refused=True), s.backend, notice,
                         f"the retrieved passages never mention {listed}")
            return

        items = select_evidence(standalone, passages, search, s.evidence_sentences)
        timings["evidence"] = time.perf_counter() - started
        if model is None and notice is None:
            model, notice = self._model_or_notice()
        if model is None:
            yield finish(extractive_answer(items), "extractive", notice)
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
            fallback = f"The language model failed ({_short(exc)}); showing the most relevant sentences instead."
            yield finish(extractive_answer(items), "extractive", fallback)
            return
        verified = verify_answer("".join(raw), items, search.embedder, s.min_support)
        yield finish(verified, s.backend, notice)

    def _model_or_notice(self) -> tuple[BaseChatModel | None, str | None]:
        if self.settings.backend == "extractive":
            return None, None
        try:
            return self.chat_model(), None
        except Exception as exc:  # BackendError, ImportError, llama.cpp load errors
            log.warning("cannot load the %s backend: %s", self.settings.backend, exc)
            return None, f"The language model is unavailable ({_short(exc)}); showing the most relevant sentences instead."

    def _generate(self, model: BaseChatModel, question: str, items: Sequence[EvidenceItem]) -> Iterator[str]:
        for chunk in model.stream(answer_messages(question, items)):
            text = chunk.content if isinstance(chunk.content, str) else ""
            if text:
                yield text


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def build_chain(settings: Settings | None = None, chat_model: BaseChatModel | None = None) -> RagChain:
    """The answering chain over the configured index (a LangChain Runnable)."""
    return RagChain(settings, chat_model)

