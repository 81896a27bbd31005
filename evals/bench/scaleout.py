"""Retrieval latency with the vectors in a Chroma server vs embedded Chroma.

Starts ``chroma run`` on a free local port, copies a prepared index's vectors
into it through ``VectorStore.upsert`` (same ids, vectors, documents and
metadata), and times ``search(q, k)`` per question against both stores, in
alternation, over the same catalog and BM25 index. Only the dense lookups and
vector fetches move to the server, so the difference is their HTTP cost; the timed
pass runs with the sentence-vector cache warm so that query-time embedding, which
dominates a cold search, does not drown it.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evals.bench.latency import WARM_UP_QUERY
from evals.bench.stats import ratio, summarize
from evals.quality.dataset import EvalQuestion
from rag.settings import Settings

log = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_chroma(data: Path, timeout: float = 90) -> tuple[subprocess.Popen[bytes], str]:
    """A `chroma run` server storing under data; returns the process and its URL once it answers."""
    import httpx

    port = _free_port()
    chroma = Path(sys.executable).parent / "chroma"
    log_file = open(data / "chroma.log", "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log_file, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chroma run exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise TimeoutError(f"chroma run did not answer within {timeout} s")


def copy_vectors(source: Settings, dest: Settings) -> int:
    """Copy every vector (with document and metadata) of source's Chroma into dest's; returns the count."""
    from rag.index.vectors import VectorStore

    src = VectorStore(source)
    dst = VectorStore(dest)
    page = 2000
    offset = 0
    copied = 0
    while True:
        got = src.collection.get(include=["embeddings", "documents", "metadatas"], limit=page, offset=offset)
        if got["ids"]:
            import numpy as np

            dst.upsert(got["ids"], np.asarray(got["embeddings"], dtype=np.float32), got["documents"] or [],
                       got["metadatas"] or [])  # type: ignore[arg-type]
            copied += len(got["ids"])
        if len(got["ids"]) < page:
            return copied
        offset += page


def server_vs_embedded(settings: Settings, questions: list[EvalQuestion]) -> dict[str, Any]:
    """p50/p95 of search(q, k) against embedded Chroma and a Chroma server, alternating per question."""
    from rag.answer.retrieve import forget_searches, get_search

    with tempfile.TemporaryDirectory(prefix="bench-chroma-") as tmp:
        process, url = start_chroma(Path(tmp))
        try:
            remote = settings.model_copy(update={"chroma_url": url})
            started = time.perf_counter()
            copied = copy_vectors(settings, remote)
            copy_seconds = time.perf_counter() - started
            forget_searches()
            local_search, remote_search = get_search(settings), get_search(remote)
            # A first, untimed pass fills each search's sentence-vector cache: the timed pass
            # then differs only by where the vectors live (query embedding and BM25 are the same).
            for search in (local_search, remote_search):
                search.search(WARM_UP_QUERY, settings.top_k)
                for q in questions:
                    search.search(q.question, settings.top_k)
            local_s: list[float] = []
            remote_s: list[float] = []
            for i, q in enumerate(questions):
                pair = [(local_search, local_s), (remote_search, remote_s)]
                for search, times in pair if i % 2 == 0 else reversed(pair):
                    t = time.perf_counter()
                    search.search(q.question, settings.top_k)
                    times.append(time.perf_counter() - t)
            forget_searches()
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
    local = summarize(local_s)
    server = summarize(remote_s)
    return {
        "vectors": copied,
        "copy_seconds": copy_seconds,
        "embedded_seconds": local,
        "server_seconds": server,
        "server_over_embedded_p50": ratio(server["median"], local["median"]),
    }
