"""Serving the app: ``launch(settings)`` builds a missing index, starts Gradio and warms up; ``main`` is `./run app`."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from typing import Any

import gradio as gr  # rag/__init__ (imported first, as our package) already set GRADIO_ANALYTICS_ENABLED=False

from rag.errors import RagError
from rag.index.handle import Index
from rag.logs import configure_logging
from rag.settings import Settings, get_settings
from rag.web.guard import middleware
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


def launch_kwargs(settings: Settings) -> dict[str, Any]:
    """Everything launch() needs from the settings (also used by tests)."""
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "auth": parse_auth(settings.auth),
        "max_file_size": settings.max_upload_bytes,
        "show_error": False,
        "ssr_mode": False,
        "theme": THEME,
        "css": CSS,
        "js": JS,
        "footer_links": ["api", "settings"],
        "quiet": True,
        "app_kwargs": {"middleware": middleware(settings)},
    }


def build_missing_index(settings: Settings) -> None:
    """Build the index from the corpus when there is none, reporting to stderr."""
    if Index.exists(settings):
        return
    from rag.index.build import ensure_index

    print(f"No index at {settings.index_dir}: indexing {settings.corpus_dir} …", file=sys.stderr, flush=True)
    report = ensure_index(settings, progress=sys.stderr.isatty())
    if report is None:  # another process built it meanwhile
        return
    for problem in report.problems:
        print(f"problem  {problem.source}: {problem.reason}", file=sys.stderr)
    print(f"Indexed: {report.summary()}", file=sys.stderr, flush=True)


def launch(settings: Settings | None = None, *, prevent_thread_lock: bool = False) -> gr.Blocks:
    """Build the index if needed, then serve the app on settings.host:settings.port."""
    settings = settings or get_settings()
    started = time.perf_counter()
    build_missing_index(settings)
    rag = RagApp(settings)
    demo = build_app(settings, rag)
    demo.queue(default_concurrency_limit=settings.concurrency_limit, max_size=100)
    kwargs = launch_kwargs(settings)
    demo.launch(prevent_thread_lock=True, **kwargs)
    url = f"http://{settings.host}:{demo.server_port}/"
    print(f"News chat ready at {url} ({time.perf_counter() - started:.1f} s)"
          + (" — login required" if kwargs["auth"] else ""), file=sys.stderr, flush=True)
    print(url, flush=True)

    def background() -> None:
        rag.warm_up()
        report, error = rag.reindex()  # pick up files added to the corpus while the app was down
        if error:
            print(f"Index sync failed: {error}", file=sys.stderr, flush=True)
        elif report is not None and report.changed:
            print(f"Index synced with the corpus: {report.summary()}", file=sys.stderr, flush=True)

    threading.Thread(target=background, daemon=True, name="rag-warm-up").start()
    if not prevent_thread_lock:
        demo.block_thread()
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The news chat (configured by RAG_* environment variables).")
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
