"""Server mode at scale: search latency through a Chroma server vs embedded, and how fast replicas follow.

Starts ``chroma run`` on a free local port and publishes a prepared embedded index
into it as server mode stores it (passages with their vectors, text, article fields
and sentence vectors; article records; the state record), reusing the embedded
vectors instead of embedding again. Then a replica with an empty cache folder opens
it (the time to copy the catalog is its start-up cost), and ``search(q, k)`` is
timed per question against both, in alternation, after an untimed pass that warms
both sentence-vector caches, so that only where the index lives differs. Last, a
writer with its own cache adds articles one at a time and the replica's *refresh
latency* is timed: from the writer's commit to the article being found by a search
on the replica (the state check runs at most once a second, so up to ~1 s of it is
waiting by design).
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

import numpy as np

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


def publish_index(source: Settings, dest: Settings) -> int:
    """Write an embedded index into dest's Chroma server as server mode stores it, reusing its vectors;
    returns the passages copied."""
    from rag.index.catalog import Catalog
    from rag.index.remote import ServerRecords, passage_metadata
    from rag.index.vectors import VectorStore

    catalog = Catalog(Path(source.index_dir))
    src, dst = VectorStore(source), VectorStore(dest)
    records = ServerRecords(dest, dst)
    copied = 0
    articles = [catalog.get_article(row["id"]) for row in catalog.list_articles()]  # type: ignore[arg-type]
    for start in range(0, len(articles), 100):
        group = [a for a in articles[start : start + 100] if a is not None]
        passages = [p for a in group for p in catalog.passages_of(a.id)]
        ids = [p.id for p in passages]
        vectors, sentences = src.vectors(ids), catalog.sentence_vectors(ids)
        by_id = {a.id: a for a in group}
        dst.upsert(ids, np.stack([vectors[pid] for pid in ids]), [p.text for p in passages],
                   [passage_metadata(p, by_id[p.article_id], sentences.get(p.id), full=True) for p in passages])
        records.put_articles([(a, sum(p.article_id == a.id for p in passages)) for a in group])
        copied += len(ids)
    records.set_dirty(False, source.index_fingerprint())
    records.bump()
    return copied


def server_vs_embedded(settings: Settings, questions: list[EvalQuestion], updates: int = 5) -> dict[str, Any]:
    """Search p50/p95 against embedded Chroma and through a Chroma server (a replica with its own cache),
    alternating per question; the replica's start-up and its refresh latency after ``updates`` writes."""
    from rag.answer.retrieve import forget_searches, get_search
    from rag.index.handle import Index

    with tempfile.TemporaryDirectory(prefix="bench-chroma-") as tmp:
        process, url = start_chroma(Path(tmp))
        try:
            remote = settings.model_copy(update={"chroma_url": url, "index_dir": Path(tmp) / "replica-cache"})
            started = time.perf_counter()
            copied = publish_index(settings, remote)
            publish_seconds = time.perf_counter() - started
            forget_searches()
            started = time.perf_counter()
            Index.open(remote)  # a replica's first start: its cache copies every article from the server
            replica_start = time.perf_counter() - started
            local_search, remote_search = get_search(settings), get_search(remote)
            # A first, untimed pass fills each search's sentence-vector cache: the timed pass
            # then differs only by where the index lives (query embedding and BM25 are the same).
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
            write_s, refresh_s = _refresh_latency(remote, Path(tmp), updates)
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
        "publish_seconds": publish_seconds,
        "replica_start_seconds": replica_start,
        "embedded_seconds": local,
        "server_seconds": server,
        "server_over_embedded_p50": ratio(server["median"], local["median"]),
        "write_seconds": summarize(write_s),
        "refresh_seconds": summarize(refresh_s),
    }


def _refresh_latency(replica: Settings, tmp: Path, updates: int) -> tuple[list[float], list[float]]:
    """A writer (own cache, own corpus folder) adds one article at a time; per article, the seconds the write
    took (lease and commit included) and the seconds from its commit until a search on the replica finds it."""
    from rag.answer.retrieve import get_search
    from rag.index.build import add_to_index

    corpus = tmp / "writer-corpus"
    corpus.mkdir()
    writer = replica.model_copy(update={"index_dir": tmp / "writer-cache", "corpus_dir": corpus})
    search = get_search(replica)
    write_s: list[float] = []
    refresh_s: list[float] = []
    for i in range(updates):
        name = f"refresh-{i}.txt"
        word = f"Quorblax{i}"
        (corpus / name).write_text(f"{word} festival opens\n\nThe {word} festival opened in Leeds on Friday, "
                                   f"drawing {1000 + i} visitors to its first day, organisers said.\n")
        started = time.perf_counter()
        add_to_index(writer, [name])
        committed = time.perf_counter()
        while name not in {p.source for p in search.retrieve(f"How many visitors did the {word} festival draw?",
                                                             3).passages}:
            if time.perf_counter() - committed > 60:
                raise TimeoutError(f"{name} not found on the replica 60 s after it was indexed")
            time.sleep(0.05)
        write_s.append(committed - started)
        refresh_s.append(time.perf_counter() - committed)
    return write_s, refresh_s
