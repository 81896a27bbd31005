"""An OpenAI-compatible HTTP server for a GGUF model, for the ``openai`` backend.

xllamacpp's ``Server`` *is* llama.cpp's ``llama-server``: given a host and a
port in its ``CommonParams`` it serves ``/v1/models``, ``/v1/chat/completions``
(with SSE streaming), ``/health`` and the rest from C++ threads. This module
only builds the parameters and keeps the process alive.

    python -m rag.llm.server --port 8080            # the packaged model
    python -m rag.llm.server --model-path m.gguf --port 8080 --parallel 2

It prints ``listening on http://HOST:PORT`` once the model is loaded and serving.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from rag.errors import BackendError, RagError
from rag.llm.local import EngineConfig, make_params
from rag.llm.model_files import resolve_model_path
from rag.settings import Settings, get_settings

log = logging.getLogger(__name__)


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    parallel: int = 1,
    api_key: str | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve ``settings``' local model over HTTP until ``stop`` is set (or SIGINT/SIGTERM).

    The model is announced under ``settings.openai_model``; ``parallel`` slots
    each get ``settings.llm_context`` tokens. An ``api_key`` makes every endpoint
    but ``/health`` require ``Authorization: Bearer <key>``.
    """
    import xllamacpp

    config = EngineConfig(
        model_path=str(resolve_model_path(settings)),
        n_ctx=settings.llm_context,
        n_threads=settings.llm_threads,
        n_parallel=parallel,
    )
    params = make_params(
        config,
        host=host,
        port=port,
        api_key=api_key,
        alias=settings.openai_model,
        http_threads=max(2, parallel + 1),
    )
    started = time.perf_counter()
    try:
        server = xllamacpp.Server(params)  # returns once the model is loaded and the socket listens
    except RuntimeError as exc:
        raise BackendError(
            f"Could not start the model server on {host}:{port}: the port may be in use or the model unloadable"
        ) from exc
    print(f"listening on {server.listening_address}", flush=True)
    log.info(
        "serving %s as %r in %.1f s", Path(config.model_path).name, settings.openai_model, time.perf_counter() - started
    )

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    del server  # joins llama.cpp's threads and closes the socket


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.llm.server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-path", type=Path, help="GGUF file (default: the packaged RAG_LLM_MODEL)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--threads", type=int, help="CPU threads (default: RAG_LLM_THREADS)")
    parser.add_argument("--ctx", type=int, help="context per slot (default: RAG_LLM_CONTEXT)")
    parser.add_argument("--parallel", type=int, default=1, help="requests decoded at once")
    parser.add_argument("--model-name", help="name announced by /v1/models (default: RAG_OPENAI_MODEL)")
    parser.add_argument("--api-key", help="require this bearer token")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides = {
        "llm_model_path": args.model_path,
        "llm_threads": args.threads,
        "llm_context": args.ctx,
        "openai_model": args.model_name,
    }
    try:
        settings = get_settings(**overrides)
        serve(settings, args.host, args.port, parallel=args.parallel, api_key=args.api_key)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
