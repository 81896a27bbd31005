"""Serving: the index built when missing, the ASGI app run by uvicorn on a thread of its own (started, its URL
known, stopped cleanly), the model warmed up and the index synced with the corpus in the background."""

from __future__ import annotations

import errno
import sys
import threading
import time
from dataclasses import dataclass

import uvicorn

from rag.index.handle import Index
from rag.server.service import NewsService
from rag.settings import Settings

START_TIMEOUT_S = 60.0


@dataclass
class Running:
    """A started server: its base URL (no trailing slash) and how to stop it."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def wait(self) -> None:
        """Block until the server stops; Ctrl-C stops it."""
        try:
            while self.thread.is_alive():
                self.thread.join(0.5)
        except KeyboardInterrupt:
            self.stop()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_server(app: object, settings: Settings) -> Running:
    """Serve app on settings.host:settings.port (0: any free port); returns once it accepts connections.

    Raises OSError when the address cannot be used (the port is taken...).
    """
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5, lifespan="on")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name="rag-http")
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:  # uvicorn logged why; it exits on a bind error
            server.should_exit = True
            raise OSError(errno.EADDRINUSE, f"cannot listen on {settings.host}:{settings.port} (in use?)")
        time.sleep(0.05)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return Running(f"http://{shown}:{port}", server, thread)


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


def serve(app: object, service: NewsService, what: str, *, started: float, block: bool = True) -> Running:
    """Serve app, announce it (the URL alone on stdout), then warm up and sync the index in the background."""
    settings = service.settings
    running = start_server(app, settings)
    if settings.host in ("0.0.0.0", "::") and not settings.api_keys:
        print("warning: serving the network with an open API: set RAG_API_KEYS", file=sys.stderr, flush=True)
    print(f"{what} ready at {running.url}/ (API: {running.url}/v1, docs: {running.url}/docs; "
          f"{time.perf_counter() - started:.1f} s)" + (" — login required" if settings.auth else ""),
          file=sys.stderr, flush=True)
    print(f"{running.url}/", flush=True)

    def background() -> None:
        service.warm_up()
        report, error = service.reindex()  # pick up files added to the corpus while the server was down
        if error:
            print(f"Index sync failed: {error}", file=sys.stderr, flush=True)
        elif report is not None and report.changed:
            print(f"Index synced with the corpus: {report.summary()}", file=sys.stderr, flush=True)

    threading.Thread(target=background, daemon=True, name="rag-warm-up").start()
    if block:
        running.wait()
    return running
