"""Serving the app: one process, one port: the API under /v1 (and /docs), the Gradio chat at /.

``build_server(settings)`` makes the FastAPI app of :mod:`rag.server.api` and mounts
the chat on it, both over one :class:`NewsService`; ``launch(settings)`` builds a
missing index and serves them (:func:`rag.server.run.serve`); ``main`` is `./run app`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

import gradio as gr  # rag/__init__ (imported first, as our package) already set GRADIO_ANALYTICS_ENABLED=False
from fastapi import FastAPI

from rag.errors import RagError
from rag.logs import configure_logging
from rag.server.api import build_api
from rag.server.run import Running, build_missing_index, serve
from rag.server.service import NewsService
from rag.settings import Settings, get_settings
from rag.web.layout import CSS, JS, THEME, build_app
from rag.web.state import RagApp

log = logging.getLogger(__name__)


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    if not auth:
        return None
    user, colon, password = auth.partition(":")
    if not colon or not user or not password:
        raise RagError("RAG_AUTH must look like user:password.")
    return user, password


def mount_kwargs(settings: Settings) -> dict[str, Any]:
    """Everything mounting the chat needs from the settings (also used by tests)."""
    return {
        "auth": parse_auth(settings.auth),
        "max_file_size": settings.max_upload_bytes,
        "show_error": False,
        "ssr_mode": False,
        "theme": THEME,
        "css": CSS,
        "js": JS,
        "footer_links": ["api", "settings"],
    }


def build_server(settings: Settings) -> tuple[FastAPI, NewsService]:
    """The API with the chat mounted at /, over one shared service."""
    service = NewsService(settings)
    api = build_api(settings, service)
    demo = build_app(settings, RagApp(settings, service))
    demo.queue(default_concurrency_limit=settings.concurrency_limit, max_size=100)
    return gr.mount_gradio_app(api, demo, path="/", **mount_kwargs(settings)), service


def launch(settings: Settings | None = None, *, block: bool = True) -> Running:
    """Build the index if needed, then serve the chat and the API on settings.host:settings.port."""
    settings = settings or get_settings()
    started = time.perf_counter()
    build_missing_index(settings)
    app, service = build_server(settings)
    return serve(app, service, "News chat", started=started, block=block)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The news chat and its API (configured by RAG_* environment variables).")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v: what each stage does; -vv: details, libraries too (RAG_LOG sets single modules).")
    options = parser.parse_args(argv)
    try:
        configure_logging(options.verbose)
        launch()
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except OSError as exc:  # e.g. the port is taken
        print(f"error: cannot start the server: {exc} (set RAG_HOST / RAG_PORT)", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass
