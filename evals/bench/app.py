"""App cold start to ready, and the memory of the serving process.

Starts ``python app.py`` in a subprocess on a private copy of a prepared index
(the app re-indexes its corpus in the background, which must never touch the
benchmark's cache), times it until ``GET /`` answers 200, then asks a few
questions through gradio_client's ``/ask`` endpoint and reads the resident
memory of the process and its children. Anything that goes wrong yields
``{"status": "n/a", "reason": ...}``: the app is another module's concern.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from evals.bench.stats import sample_rss, summarize, tree_rss
from rag.settings import Settings

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    import httpx

    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with status {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s")


def _model_assembly_seconds(settings: Settings, workdir: Path) -> float | None:
    """Seconds to assemble and verify the packaged model into an empty cache (what `./run setup` does once)."""
    if settings.llm_model_path is not None:
        return None
    from rag.llm.model_files import packaged_model_path

    cache = workdir / "model-cache"
    shutil.rmtree(cache, ignore_errors=True)
    started = time.perf_counter()
    try:
        packaged_model_path(settings.llm_model, cache)
        return time.perf_counter() - started
    except Exception as exc:  # noqa: BLE001 - reported as n/a
        log.warning("model assembly could not be timed: %s", exc)
        return None
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def app_cold_start(
    settings: Settings, workdir: Path, questions: list[str], backend: str = "local", timeout: float = 300
) -> dict[str, Any]:
    """Seconds to HTTP 200 and the serving RSS after answering ``questions``; "n/a" when unavailable."""
    app = REPO / "app.py"
    if not app.exists():
        return {"status": "n/a", "reason": "app.py does not exist"}
    workdir.mkdir(parents=True, exist_ok=True)
    assembly = _model_assembly_seconds(settings, workdir) if backend == "local" else None
    index = workdir / "index"
    shutil.rmtree(index, ignore_errors=True)
    shutil.copytree(settings.index_dir, index)
    log_path = workdir / "app.log"
    process, url = start_app(settings.corpus_dir, index, backend, workdir, log_path)
    try:
        ready = _wait_ready(url, process, timeout)
        rss_ready = tree_rss(process.pid)
        from gradio_client import Client

        client = Client(url, verbose=False)
        answers: list[float] = []
        refused = 0
        with sample_rss(process.pid, interval=0.2) as peak:
            for question in questions:
                started = time.perf_counter()
                result = client.predict(question, api_name="/ask")
                answers.append(time.perf_counter() - started)
                refused += int(bool(result.get("refused"))) if isinstance(result, dict) else 0
        rss_after = tree_rss(process.pid)
        return {
            "status": "ok",
            "backend": backend,
            "index": settings.index_dir.name,
            "ready_seconds": ready,
            "rss_ready_bytes": rss_ready,
            "rss_serving_bytes": rss_after,
            "rss_peak_bytes": peak.peak,
            "questions": len(questions),
            "answer_seconds": summarize(answers),
            "first_answer_seconds": answers[0] if answers else None,
            "launch_to_first_answer_seconds": ready + answers[0] if answers else None,
            "model_assembly_seconds": assembly,
            "refused": refused,
        }
    except Exception as exc:  # the app is optional for the benchmark
        tail = log_path.read_text(errors="replace")[-800:] if log_path.exists() else ""
        log.warning("app cold start failed: %s\n%s", exc, tail)
        return {"status": "n/a", "reason": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        stop(process)
        shutil.rmtree(index, ignore_errors=True)


def start_app(corpus: Path, index: Path, backend: str, workdir: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`python app.py` on a free port of 127.0.0.1 with only these RAG_* settings; (process, its URL with a slash)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_MODEL_CACHE"}
    env.update(RAG_CORPUS_DIR=str(corpus), RAG_INDEX_DIR=str(index), RAG_BACKEND=backend, RAG_HOST="127.0.0.1",
               RAG_PORT=str(port), PYTHONUNBUFFERED="1")
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=workdir, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}/"


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server process, killing it when it does not exit within 20 s."""
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
