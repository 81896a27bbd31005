"""Chat completions' pure logic: model names, the conversation, the stream's events (keep-alive, a mid-stream error)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from rag.server import chat
from rag.server.wire import ApiError, ChatCompletionRequest
from rag.types import Answer, Citation, EvidenceEvent, StreamEvent


def request(**values: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "newsrag", "messages": [
        {"role": "user", "content": "Who?"}], **values})


def answer(text: str = "Lammy said so [1].") -> Answer:
    citation = Citation(marker=1, passage_id="p", article_id="a", source="a.txt", title="T", quote="Lammy said so.",
                        start=0, end=14, support=0.9)
    return Answer(question="Who?", standalone_question="Who?", answer=text, refused=False, citations=(citation,),
                  backend="extractive", timings={"total": 0.1})


def test_model_names_choose_the_backend() -> None:
    assert chat.backend_of("newsrag") is None and chat.backend_of("newsrag-local") == "local"
    for wrong in ("gpt-4o", "newsrag-", "newsrag-gpt", "NEWSRAG"):
        with pytest.raises(ApiError) as raised:
            chat.backend_of(wrong)
        assert raised.value.status == 404 and raised.value.code == "model_not_found"


def test_the_conversation_is_the_last_user_message_and_the_turns_before_it() -> None:
    body = request(messages=[
        {"role": "system", "content": "Ignore the articles."},
        {"role": "user", "content": "What did Lammy say?"},
        {"role": "assistant", "content": "He said so [1]."},
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "And"}, {"type": "text", "text": "why?"}]},
    ])
    question, history = chat.conversation(body)
    assert question == "And\nwhy?"
    assert history == [{"role": "user", "content": "What did Lammy say?"},
                       {"role": "assistant", "content": "He said so [1]."}]


@pytest.mark.parametrize(("messages", "param"), [
    ([], "messages"),
    ([{"role": "system", "content": "only this"}], "messages"),
    ([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}], "messages"),
    ([{"role": "tool", "content": "{}"}, {"role": "user", "content": "Q"}], "messages[0].role"),
    ([{"role": "user", "content": [{"type": "input_audio"}]}], "messages[0].content"),
])
def test_an_unanswerable_conversation_is_a_400_naming_the_param(messages: list[object], param: str) -> None:
    with pytest.raises(ApiError) as raised:
        chat.conversation(request(messages=messages))
    assert raised.value.status == 400 and raised.value.param == param


def events_of(lines: Iterator[str]) -> list[dict[str, object] | str]:
    return [json.loads(line[6:]) if line.startswith("data: {") else line.strip() for line in lines]


def test_the_stream_sends_the_role_then_the_answer_then_the_grounding(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow() -> Iterator[StreamEvent]:
        yield EvidenceEvent(standalone_question="Who?", passages=())
        time.sleep(0.25)  # longer than the keep-alive interval below
        yield answer()

    monkeypatch.setattr(chat, "KEEP_ALIVE_S", 0.05)
    events = events_of(chat.sse_stream(request(stream=True, stream_options={"include_usage": True}), slow(), len))
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}  # type: ignore[index]
    assert ": making the answer" in events  # proxies see bytes while the answer is made
    data = [e for e in events if isinstance(e, dict)]
    assert data[1]["choices"][0]["delta"] == {"content": "Lammy said so [1]."}  # type: ignore[index]
    final = data[2]["choices"][0]  # type: ignore[index]
    assert final["finish_reason"] == "stop" and final["delta"]["citations"][0]["quote"] == "Lammy said so."
    assert final["delta"]["refused"] is False and final["delta"]["timings"] == {"total": 0.1}
    assert data[3]["choices"] == [] and data[3]["usage"]["completion_tokens"] == len("Lammy said so [1].")  # type: ignore[index]
    assert events[-1] == "data: [DONE]"


def test_an_error_after_the_200_travels_as_an_error_event() -> None:
    def failing() -> Iterator[StreamEvent]:
        yield EvidenceEvent(standalone_question="Who?", passages=())
        raise RuntimeError("model crashed")

    events = events_of(chat.sse_stream(request(stream=True), failing(), len))
    assert events[-1]["error"]["code"] == "internal_error" and "RuntimeError" in events[-1]["error"]["message"]  # type: ignore[index]
    assert "data: [DONE]" not in events


def test_admission_runs_so_many_lets_so_many_wait_and_refuses_the_rest() -> None:
    import asyncio

    from rag.server.admission import Admission, Busy

    async def scenario() -> list[str]:
        gate = Admission(running=1, waiting=1)
        order: list[str] = []
        await gate.acquire()  # the one running answer

        async def second() -> None:
            async with gate.slot():
                order.append("second ran")

        waiter = asyncio.create_task(second())
        await asyncio.sleep(0.01)
        assert gate.waiting == 1
        try:
            await gate.acquire()
        except Busy as exc:
            order.append(str(exc))
        gate.release()
        await waiter
        async with gate.slot():  # free again
            order.append("third ran")
        return order

    assert asyncio.run(scenario()) == [
        "The server is busy: 1 questions are waiting for an answer; try again shortly.", "second ran", "third ran"]
