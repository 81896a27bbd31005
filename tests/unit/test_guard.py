"""The app's guards: which Host names it answers, and the login limit (an ASGI app stands in for Gradio)."""

from __future__ import annotations

import asyncio
from typing import Any

from rag.server.guard import LoginLimiter, allowed_hosts
from rag.settings import Settings


def test_allowed_hosts_follow_the_settings() -> None:
    assert allowed_hosts(Settings()) == ["127.0.0.1", "::1", "localhost"]
    assert allowed_hosts(Settings(host="10.0.0.5")) == ["10.0.0.5", "127.0.0.1", "::1", "localhost"]
    assert allowed_hosts(Settings(host="0.0.0.0")) == ["*"]
    assert allowed_hosts(Settings(host="0.0.0.0", allowed_hosts="news.example, 10.0.0.5")) == [
        "news.example", "10.0.0.5"]


def _call(app: Any, path: str, client: str = "1.2.3.4", method: str = "POST") -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "client": (client, 5000), "headers": []}
    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"])


def test_failed_logins_are_limited_per_address_and_other_routes_are_untouched() -> None:
    async def gradio(scope: Any, receive: Any, send: Any) -> None:  # every login fails, other routes answer
        status = 400 if scope["path"] == "/login" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limiter = LoginLimiter(gradio, attempts=3, window=60)
    assert [_call(limiter, "/login") for _ in range(4)] == [400, 400, 400, 429]
    assert _call(limiter, "/login", client="5.6.7.8") == 400  # another address has its own count
    assert _call(limiter, "/gradio_api/info") == 200 and _call(limiter, "/login", method="GET") == 400


def test_wrong_api_keys_are_limited_like_logins_and_answered_in_openai_shape() -> None:
    async def api(scope: Any, receive: Any, send: Any) -> None:  # every key is wrong, except on /v1/models
        status = 200 if scope["path"] == "/v1/models" else 401
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limiter = LoginLimiter(api, attempts=2, window=60)
    assert _call(limiter, "/v1/models", method="GET") == 200  # a success is not counted
    assert [_call(limiter, "/v1/chat/completions") for _ in range(3)] == [401, 401, 429]
    assert _call(limiter, "/v1/models", method="GET") == 429  # the address waits, whatever the route
    assert _call(limiter, "/v1/models", client="5.6.7.8", method="GET") == 200


def test_a_raw_ask_call_with_the_question_alone_gets_the_defaults() -> None:
    import json

    from rag.server.guard import AskDefaults

    seen: list[Any] = []

    async def gradio(scope: Any, receive: Any, send: Any) -> None:
        seen.append(json.loads((await receive())["body"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def post(path: str, body: bytes) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            return None

        scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"content-length", b"1")]}
        asyncio.run(AskDefaults(gradio)(scope, receive, send))

    post("/gradio_api/call/ask", b'{"data": ["Why?"]}')
    post("/gradio_api/call/ask", b'{"data": ["Why?", "[]", "local", 3]}')
    post("/gradio_api/call/other", b'{"data": ["Why?"]}')
    assert [s["data"] for s in seen] == [["Why?", "[]", "", 0, "{}"], ["Why?", "[]", "local", 3, "{}"], ["Why?"]]
