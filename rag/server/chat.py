"""OpenAI chat completions over the chain: a request becomes the chain's input, an Answer becomes a completion.

The content is always the verified answer: a stream never carries the model's
unverified tokens (a client cannot take back text it has shown), so it sends the
role at once, SSE comments while the answer is being made, then the answer, and
last the grounding (citations, passages, refused) on the chunk that finishes.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from rag.server.service import BACKENDS
from rag.server.wire import (
    ApiError,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    Grounding,
    ModelCard,
    Usage,
)
from rag.settings import Settings
from rag.types import Answer, StreamEvent

log = logging.getLogger(__name__)

MODEL = "newsrag"
KEEP_ALIVE_S = 10.0  # an SSE comment this often while the answer is made, so proxies keep the stream open

CountTokens = Callable[[str], int]


def models(settings: Settings, created: int) -> list[ModelCard]:
    """newsrag (the server's default backend) and newsrag-<backend> for each backend."""
    cards = [ModelCard(id=MODEL, created=created, description=f"The server's default backend ({settings.backend}).")]
    cards += [ModelCard(id=f"{MODEL}-{backend}", created=created, description=f"Answers with the {backend} backend.")
              for backend in BACKENDS]
    return cards


def backend_of(model: str) -> str | None:
    """The backend a model name asks for (None: the server's default), or ApiError 404."""
    if model == MODEL:
        return None
    backend = model.removeprefix(f"{MODEL}-")
    if model.startswith(f"{MODEL}-") and backend in BACKENDS:
        return backend
    raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it. Use one of: "
                   f"{', '.join([MODEL, *(f'{MODEL}-{b}' for b in BACKENDS)])} (GET /v1/models).",
                   param="model", code="model_not_found")


def check_supported(request: ChatCompletionRequest) -> None:
    """ApiError 400 for the parameters newsrag accepts only when they ask for nothing it cannot do."""
    if request.n not in (None, 1):
        raise ApiError(400, f"n={request.n} is not supported: newsrag gives one grounded answer (n=1).", param="n")
    if request.logprobs or request.top_logprobs:
        raise ApiError(400, "logprobs are not supported: the answer is quoted or verified text, not sampled.",
                       param="logprobs")
    for name in ("tools", "functions"):
        if getattr(request, name):
            raise ApiError(400, f"{name} are not supported: newsrag answers from its articles only.", param=name)
    for name in ("tool_choice", "function_call"):
        if getattr(request, name) not in (None, "none"):
            raise ApiError(400, f"{name} is not supported: newsrag answers from its articles only.", param=name)
    if request.audio or (request.modalities and set(request.modalities) != {"text"}):
        raise ApiError(400, "Only text output is supported (modalities ['text'], no audio).",
                       param="audio" if request.audio else "modalities")
    if request.response_format and request.response_format.get("type") != "text":
        raise ApiError(400, "Only response_format {'type': 'text'} is supported: the answer is text with [n] "
                       "markers; its citations come as JSON in the message's citations field.",
                       param="response_format")


def conversation(request: ChatCompletionRequest) -> tuple[str, list[dict[str, str]]]:
    """(the question, the earlier user/assistant messages) of a request, or ApiError 400 saying what is wrong."""
    if not request.messages:
        raise ApiError(400, "[] is too short - 'messages': send at least the user's question.", param="messages")
    turns: list[dict[str, str]] = []
    for i, message in enumerate(request.messages):
        if message.role in ("system", "developer"):
            continue  # the assistant's instructions are fixed; a client's cannot widen them
        if message.role not in ("user", "assistant"):
            raise ApiError(400, f"messages[{i}]: role {message.role!r} is not supported (tools are not): send "
                           "user and assistant messages.", param=f"messages[{i}].role")
        turns.append({"role": message.role, "content": _text(message.content, i)})
    if not turns or turns[-1]["role"] != "user":
        raise ApiError(400, "The last message must be the user's question (role 'user').", param="messages")
    return turns[-1]["content"], turns[:-1]


def _text(content: object, i: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:  # type: ignore[attr-defined]
        if part.type != "text":
            raise ApiError(400, f"messages[{i}].content: only text can be answered, not {part.type!r} parts.",
                           param=f"messages[{i}].content")
        texts.append(part.text or "")
    return "\n".join(texts)


def grounding(answer: Answer) -> Grounding:
    return Grounding(
        refused=answer.refused, refusal_reason=answer.refusal_reason, citations=list(answer.citations),
        passages=list(answer.passages), notice=answer.notice, filter_note=answer.filter_note,
        standalone_question=answer.standalone_question, timings=answer.timings,
    )


def usage(request: ChatCompletionRequest, answer: Answer, count: CountTokens) -> Usage:
    read = sum(count(_text(m.content, i)) for i, m in enumerate(request.messages) if m.role in ("user", "assistant"))
    written = count(answer.answer)
    return Usage(prompt_tokens=read, completion_tokens=written, total_tokens=read + written)


def completion(request: ChatCompletionRequest, answer: Answer, count: CountTokens) -> ChatCompletion:
    message = AssistantMessage(content=answer.answer, **grounding(answer).model_dump())
    return ChatCompletion(
        id=_completion_id(), created=int(time.time()), model=request.model, choices=[Choice(message=message)],
        usage=usage(request, answer, count),
    )


def sse_stream(request: ChatCompletionRequest, events: Iterator[StreamEvent], count: CountTokens) -> Iterator[str]:
    """The server-sent events of a streamed completion from the chain's events (the first already taken)."""
    head = {"id": _completion_id(), "object": "chat.completion.chunk", "created": int(time.time()),
            "model": request.model, "system_fingerprint": None}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _event({**head, "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    answer: Answer | None = None
    try:
        for event in _with_keep_alive(events):
            if event is None:
                yield ": making the answer\n\n"
            elif isinstance(event, Answer):
                answer = event
        if answer is None:
            raise RuntimeError("the chain ended without an answer")
    except Exception as exc:  # the 200 is sent: the error travels as an event, as OpenAI's do
        log.exception("streamed answer failed")
        yield _event(ApiError.from_exception(exc).response().model_dump())
        return
    yield chunk({"content": answer.answer})
    yield chunk(grounding(answer).model_dump(mode="json"), finish="stop")
    if request.stream_options and request.stream_options.include_usage:
        yield _event({**head, "choices": [], "usage": usage(request, answer, count).model_dump()})
    yield "data: [DONE]\n\n"


def _with_keep_alive(events: Iterator[StreamEvent]) -> Iterator[StreamEvent | None]:
    """The events, with None whenever KEEP_ALIVE_S pass without one (the chain runs on its own thread)."""
    found: queue.Queue[tuple[str, Any]] = queue.Queue()

    def produce() -> None:
        try:
            for event in events:
                found.put(("event", event))
        except BaseException as exc:  # re-raised in the consumer
            found.put(("error", exc))
        found.put(("done", None))

    threading.Thread(target=produce, daemon=True, name="rag-api-stream").start()
    while True:
        try:
            kind, value = found.get(timeout=KEEP_ALIVE_S)
        except queue.Empty:
            yield None
            continue
        if kind == "error":
            raise value
        if kind == "done":
            return
        yield value


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"
