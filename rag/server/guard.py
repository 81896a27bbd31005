"""Guards in front of the server, as ASGI middleware: which Host names it answers, how often a login may fail,
how large an API request may be, and the optional values of a raw ``/ask`` call.

Host: a page on another site can reach an app on 127.0.0.1 by pointing its own
name at that address (DNS rebinding); refusing every ``Host`` header but the
configured names stops it. Login: Gradio's login form takes any number of
guesses; after ``attempts`` failures from one address within ``window`` seconds
that address gets 429 until the window has passed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from rag.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")


def allowed_hosts(settings: Settings) -> list[str]:
    """``RAG_ALLOWED_HOSTS`` when set; else the local names (and the configured host), or any when serving 0.0.0.0."""
    if settings.allowed_hosts:
        return [name.strip() for name in settings.allowed_hosts.split(",") if name.strip()]
    if settings.host in ("0.0.0.0", "::"):  # serving the network: the names it is reached by are not known here
        return ["*"]
    return sorted({settings.host, *LOCAL_NAMES})


class LoginLimiter:
    """At most ``attempts`` failed logins (the login form, or a wrong API key under /v1) per client address in
    ``window`` seconds, then 429 until the window has passed."""

    def __init__(self, app: ASGIApp, attempts: int = 5, window: float = 60.0) -> None:
        self.app, self.attempts, self.window = app, attempts, window
        self._failures: dict[str, list[float]] = {}

    @staticmethod
    def _failure_statuses(scope: Scope) -> tuple[int, ...]:
        """The statuses that count as a failed login for this request (none: not a login)."""
        if scope["type"] != "http":
            return ()
        if scope["path"].startswith("/v1/"):
            return (401,)
        if scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/login"):
            return (400, 401, 403)
        return ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        failures = self._failure_statuses(scope)
        if not failures:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?", 0))[0]
        now = time.monotonic()
        recent = [t for t in self._failures.get(client, []) if now - t < self.window]
        if len(recent) >= self.attempts:
            wait = int(self.window - (now - recent[0])) + 1
            message = f"Too many failed logins: try again in {wait} s."
            body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                         "code": "rate_limit_exceeded"}} if scope["path"].startswith("/v1/")
                              else {"detail": message}).encode()
            await send({"type": "http.response.start", "status": 429,
                        "headers": [(b"content-type", b"application/json"), (b"retry-after", str(wait).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        status: dict[str, int] = {}

        async def noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        await self.app(scope, receive, noting_status)
        if status.get("code") in failures:
            recent.append(now)
        if recent:
            self._failures[client] = recent
        else:  # only addresses with failures in the window are kept
            self._failures.pop(client, None)


class AskDefaults:
    """A raw REST call of ``/ask`` may send the question alone: the optional values are filled in before Gradio,
    which counts the values before any of our code runs, sees the body."""

    def __init__(self, app: ASGIApp, defaults: tuple[Any, ...] = ("[]", "", 0, "{}")) -> None:
        self.app, self.defaults = app, defaults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].rstrip("/").endswith("/call/ask"):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            payload = json.loads(body)
            data = payload.get("data") if isinstance(payload, dict) else None
            if isinstance(data, list) and 1 <= len(data) < 1 + len(self.defaults):
                payload["data"] = [*data, *self.defaults[len(data) - 1 :]]
                body = json.dumps(payload).encode()
        except ValueError:
            pass  # not JSON: Gradio answers it as it would
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        await self.app(scope, _replaying(body, receive), send)


class BodyLimit:
    """Request bodies under ``prefix`` larger than ``limit`` bytes (or a path's own limit in ``uploads``, for POST)
    get 413 in OpenAI's error shape before any of them reaches the route; a chunked body is counted as it comes."""

    def __init__(self, app: ASGIApp, prefix: str, limit: int, uploads: dict[str, int] | None = None) -> None:
        self.app, self.prefix, self.limit, self.uploads = app, prefix, limit, uploads or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        limit = self.uploads.get(scope["path"].rstrip("/"), self.limit) if scope["method"] == "POST" else self.limit
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await _too_large(send, limit)
                return
            if not message.get("more_body"):
                break
        await self.app(scope, _replaying(b"".join(chunks), receive), send)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the whole body already read, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _too_large(send: Send, limit: int) -> None:
    error = {"message": f"The request body is larger than {limit:,} bytes (RAG_MAX_REQUEST_BYTES; uploads: "
             "RAG_MAX_UPLOAD_BYTES).", "type": "invalid_request_error", "param": None, "code": "request_too_large"}
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps({"error": error}).encode()})


def guards(settings: Settings) -> list[Middleware]:
    """The guards of the server (the API with the app mounted on it): Host names first, then the login limit."""
    return [
        Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings)),  # type: ignore[arg-type]
        Middleware(LoginLimiter),  # type: ignore[arg-type]
        Middleware(AskDefaults),  # type: ignore[arg-type]
    ]
