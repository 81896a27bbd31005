"""Retrieval and answer latency over the eval questions.

Retrieval: ``get_search(settings).search(q, k)`` (the hybrid search the chain
uses), once per question after one warm-up query, then a second pass over the
same questions, which shows what the per-passage sentence-vector cache saves.

Answers: ``chain.stream`` per question, timing the EvidenceEvent, the first
TokenEvent and the final Answer from the caller's side. Before each backend the
searches are forgotten (cold sentence cache, as for a new question) and the
model is reloaded (emptying llama.cpp's RAM prompt cache, which would otherwise
serve a question's prompt from an earlier corpus size) and warmed with one call
carrying the real system prompt, so model load time is never counted in a question. With a baseline, each question runs ours
then the baseline (A B A B) with the same loaded model.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import LLMResult

from evals.bench.stats import summarize
from evals.quality.dataset import EvalQuestion
from rag.settings import Settings

log = logging.getLogger(__name__)

WARM_UP_QUERY = "What did the government announce this week?"


def retrieval_latency(settings: Settings, questions: list[EvalQuestion]) -> dict[str, Any]:
    """Seconds per ``search(q, k)``: first pass (cold sentence cache) and repeat pass (warm)."""
    from rag.answer.retrieve import forget_searches, get_search

    forget_searches()
    search = get_search(settings)
    started = time.perf_counter()
    search.search(WARM_UP_QUERY, settings.top_k)
    warm_up = time.perf_counter() - started
    first: list[float] = []
    for q in questions:
        t = time.perf_counter()
        search.search(q.question, settings.top_k)
        first.append(time.perf_counter() - t)
    repeat: list[float] = []
    for q in questions:
        t = time.perf_counter()
        search.search(q.question, settings.top_k)
        repeat.append(time.perf_counter() - t)
    return {
        "k": settings.top_k,
        "warm_up_seconds": warm_up,
        "seconds": summarize(first),
        "repeat_seconds": summarize(repeat),
        "per_question": first,
    }


class UsageRecorder(BaseCallbackHandler):
    """Sums the token usage of every LLM call since the last ``reset``."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.input_tokens = self.output_tokens = self.calls = 0
        self.llama: dict[str, float] = {}

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any) -> None:
        self.calls += 1
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                usage = getattr(message, "usage_metadata", None) or {}
                self.input_tokens += int(usage.get("input_tokens", 0))
                self.output_tokens += int(usage.get("output_tokens", 0))
                add_llama_timings(self.llama, getattr(message, "response_metadata", None))


LLAMA_TIMINGS = ("cache_n", "prompt_n", "prompt_ms", "predicted_n", "predicted_ms")


def add_llama_timings(total: dict[str, float], metadata: Any) -> None:
    """Add llama.cpp's own counters (prompt tokens reused from cache / evaluated, ms) to total."""
    timings = (metadata or {}).get("timings") if isinstance(metadata, dict) else None
    for key in LLAMA_TIMINGS:
        if timings and isinstance(timings.get(key), (int, float)):
            total[key] = total.get(key, 0) + float(timings[key])


@dataclass
class AnswerRun:
    """One question through one pipeline, timed from the caller's side (seconds)."""

    id: str
    pipeline: str  # "ours:<backend>" or "baseline"
    first_evidence: float | None
    first_token: float | None
    total: float
    answer: str
    refused: bool | None
    contexts: list[str] = field(default_factory=list)
    citations: int | None = None
    backend_used: str | None = None
    notice: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    llm_calls: int | None = None
    llama: dict[str, float] = field(default_factory=dict)  # llama.cpp timings summed over the calls

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["contexts"] = len(self.contexts)  # the texts stay out of the results file
        return data


def chain_input(q: EvalQuestion) -> Any:
    if q.history:
        return {"question": q.question, "chat_history": [list(turn) for turn in q.history]}
    return q.question


def run_ours(chain: Any, q: EvalQuestion, recorder: UsageRecorder | None) -> AnswerRun:
    from rag.types import Answer, EvidenceEvent, TokenEvent

    if recorder:
        recorder.reset()
    started = time.perf_counter()
    evidence: float | None = None
    token: float | None = None
    answer: Answer | None = None
    for event in chain.stream(chain_input(q)):
        now = time.perf_counter() - started
        if isinstance(event, EvidenceEvent) and evidence is None:
            evidence = now
        elif isinstance(event, TokenEvent) and token is None:
            token = now
        elif isinstance(event, Answer):
            answer = event
    total = time.perf_counter() - started
    assert answer is not None
    return AnswerRun(
        id=q.id,
        pipeline=f"ours:{chain.settings.backend}",
        first_evidence=evidence,
        first_token=token,
        total=total,
        answer=answer.answer,
        refused=answer.refused,
        contexts=[p.text for p in answer.passages],
        citations=len(answer.citations),
        backend_used=answer.backend,
        notice=answer.notice,
        input_tokens=recorder.input_tokens if recorder and recorder.calls else None,
        output_tokens=recorder.output_tokens if recorder and recorder.calls else None,
        llm_calls=recorder.calls if recorder else None,
        llama=dict(recorder.llama) if recorder else {},
    )


def run_baseline(chain: Any, q: EvalQuestion) -> AnswerRun:
    from evals.bench.baseline import stream_timed

    run = stream_timed(chain, q.question)  # the tutorial pipeline has no chat history
    return AnswerRun(
        id=q.id,
        pipeline="baseline",
        first_evidence=run.first_evidence,
        first_token=run.first_token,
        total=run.total,
        answer=run.answer,
        refused=None,
        contexts=run.contexts,
        input_tokens=run.usage.get("input_tokens"),
        output_tokens=run.usage.get("output_tokens"),
        llm_calls=1,
        llama=dict(run.llama),
    )


def warm_model(model: BaseChatModel) -> float:
    """Load the model and put the answer system prompt in its KV cache; returns the seconds taken."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from rag.answer.prompts import ANSWER_SYSTEM

    started = time.perf_counter()
    model.invoke([SystemMessage(ANSWER_SYSTEM), HumanMessage("Evidence:\n[1] The sky is blue.\nQuestion: What colour is the sky?")])
    return time.perf_counter() - started


def summarize_runs(runs: list[AnswerRun]) -> dict[str, Any]:
    return {
        "n": len(runs),
        "first_evidence": summarize(r.first_evidence for r in runs),
        "first_token": summarize(r.first_token for r in runs),
        "total": summarize(r.total for r in runs),
        "input_tokens": summarize(r.input_tokens for r in runs),
        "output_tokens": summarize(r.output_tokens for r in runs),
        "prompt_tokens_cached": summarize(r.llama.get("cache_n") for r in runs),
        "prompt_tokens_evaluated": summarize(r.llama.get("prompt_n") for r in runs),
        "prompt_tokens_per_s": summarize(
            1000 * r.llama["prompt_n"] / r.llama["prompt_ms"] for r in runs if r.llama.get("prompt_ms")
        ),
        "generated_tokens_per_s": summarize(
            1000 * r.llama["predicted_n"] / r.llama["predicted_ms"] for r in runs if r.llama.get("predicted_ms")
        ),
        "refused": sum(1 for r in runs if r.refused),
        "fell_back": sum(1 for r in runs if r.backend_used and not r.pipeline.endswith(r.backend_used)),
    }


def answer_latency(
    settings: Settings,
    backend: str,
    questions: list[EvalQuestion],
    model: BaseChatModel | None = None,
    baseline_chain: Any = None,
) -> dict[str, Any]:
    """Answer every question with our chain (and, if given, the baseline right after each)."""
    from rag.answer.chain import build_chain
    from rag.answer.retrieve import forget_searches, get_search

    forget_searches()
    chain_settings = settings.model_copy(update={"backend": backend})
    recorder: UsageRecorder | None = None
    if model is not None:
        # A fresh engine: llama.cpp keeps earlier prompts in a RAM cache, and the same question
        # at a previous corpus size often has the very same prompt (same evidence), which would
        # be served from that cache. The reload is not timed (warm_model below).
        from rag.llm.local import unload_all

        unload_all()
        recorder = UsageRecorder()
        model.callbacks = [recorder]
    chain = build_chain(chain_settings, chat_model=model)
    get_search(chain_settings).search(WARM_UP_QUERY, chain_settings.top_k)
    warm = warm_model(model) if model is not None else None
    if baseline_chain is not None:
        from evals.bench.baseline import stream_timed

        stream_timed(baseline_chain, WARM_UP_QUERY)  # opens its Chroma collection

    ours: list[AnswerRun] = []
    base: list[AnswerRun] = []
    for i, q in enumerate(questions, start=1):
        ours.append(run_ours(chain, q, recorder))
        if baseline_chain is not None:
            base.append(run_baseline(baseline_chain, q))
        log.info("answered %d/%d (%s, %s)", i, len(questions), backend, settings.index_dir)
    if model is not None:
        model.callbacks = None
    result: dict[str, Any] = {
        "backend": backend,
        "model_warm_up_seconds": warm,
        "ours": summarize_runs(ours),
        "ours_runs": ours,
    }
    if baseline_chain is not None:
        result["baseline"] = summarize_runs(base)
        result["baseline_runs"] = base
    return result


def verification_cost(settings: Settings, questions: list[EvalQuestion], model: BaseChatModel) -> dict[str, Any]:
    """The generate strategy with the LLM verifier and with the deterministic score alone, side by side.

    Both chains share the loaded model; each question runs both, in alternating order (A B, B A, ...), so
    neither always meets the other's prompt in llama.cpp's cache. ``verification`` is the seconds the
    chain spent verifying (the Answer's own timing).
    """
    from rag.answer.chain import build_chain

    def chain(llm_verifier: bool) -> Any:
        update = {"backend": "local", "answer_strategy": "generate", "verify_with_llm": llm_verifier}
        return build_chain(settings.model_copy(update=update), chat_model=model)

    chains = {"llm_verifier": chain(True), "deterministic_only": chain(False)}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in chains}
    warm_model(model)
    for i, q in enumerate(questions):
        order = list(chains) if i % 2 == 0 else list(reversed(chains))
        for name in order:
            started = time.perf_counter()
            answer = chains[name].invoke(chain_input(q))
            runs[name].append({
                "id": q.id, "total": time.perf_counter() - started,
                "verification": answer.timings.get("verification"), "refused": answer.refused,
                "kept": len(answer.citations), "dropped": len(answer.dropped_sentences),
            })
        log.info("verification cost: %d/%d", i + 1, len(questions))
    summary = {
        name: {
            "n": len(rs),
            "total": summarize(r["total"] for r in rs),
            "verification": summarize(r["verification"] for r in rs),
            "refused": sum(r["refused"] for r in rs),
            "dropped_sentences": sum(r["dropped"] for r in rs),
        }
        for name, rs in runs.items()
    }
    with_llm, alone = summary["llm_verifier"]["total"]["median"], summary["deterministic_only"]["total"]["median"]
    return {**summary, "ratio_total_p50": with_llm / alone if with_llm and alone else None, "runs": runs}
