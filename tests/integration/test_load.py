"""Load: concurrent chats against `python app.py` on 127.0.0.1 through its /ask API (gradio_client), with the
extractive backend while an article is uploaded and indexed, then with the local LLM queued by the app's
concurrency limit. Zero errors, every answer complete; latencies and queue waits are printed and written to
test-output/load-figures.json.

Bounded for CI: 24 extractive chats, 20 LLM chats on the 0.5B model with short answers (about 2 minutes here).
"""

from __future__ import annotations

import asyncio
import html
import json
import math
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from rag.answer.prompts import REFUSAL_TEXT
from rag.index.catalog import Catalog
from rag.settings import Settings
from tests.conftest import REPO
from tests.integration.test_app import ZORB, Server, copy_seed_index, start_app, stop_app
from tests.integration.test_reliability import ui_event, upload_files

pytestmark = pytest.mark.integration

EXTRACTIVE_CHATS = 24
LLM_CHATS = 20
CONCURRENCY_LIMIT = 2
ANSWERABLE = [
    "Why won't Starmer leave the ECHR?",
    "Who wrote the op-ed with Starmer?",
    "What did Amnesty International UK say?",
    "What did Suella Braverman say about the ECHR?",
    "What did Keir Starmer say about international law?",
]
UNANSWERABLE = ["What is the boiling point of tungsten?"]
QUESTIONS = ANSWERABLE + UNANSWERABLE
# The 0.5B model with short answers and three evidence sentences keeps 20 queued LLM chats to about a minute.
APP_ENV = {"RAG_LLM_MODEL": "qwen2.5-coder-0.5b", "RAG_MAX_ANSWER_TOKENS": "48", "RAG_EVIDENCE_SENTENCES": "3",
           "RAG_CONCURRENCY_LIMIT": str(CONCURRENCY_LIMIT)}
FIGURES_FILE = REPO / "test-output" / "load-figures.json"
FIGURES: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "concurrency_limit": CONCURRENCY_LIMIT}


@dataclass
class Sample:
    question: str
    started: float  # perf_counter when submitted
    latency: float  # submit -> answer received
    queue_wait: float | None  # submit -> the server reported "process starts"
    answer: dict[str, Any] | None
    error: str | None


@pytest.fixture(scope="module")
def server(seed_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("load-app")
    running = start_app(copy_seed_index(seed_settings, base), base, **APP_ENV)
    yield running
    stop_app(running.process)


def timed_ask(client: Any, question: str, backend: str) -> Sample:
    from gradio_client.utils import Status, StatusUpdate

    submitted, started = datetime.now(), time.perf_counter()
    job = client.submit(question, "[]", backend, 0, api_name="/ask")
    answer, error = None, None
    try:
        answer = job.result(timeout=900)
    except Exception as exc:  # counted and shown by the assertions
        error = f"{type(exc).__name__}: {exc}"
    latency = time.perf_counter() - started
    processing = None
    while True:  # every status message the server sent for this job, in order
        try:
            update = job.communicator.updates.get_nowait()
        except asyncio.QueueEmpty:
            break
        if isinstance(update, StatusUpdate) and update.code == Status.PROCESSING and processing is None:
            processing = update.time
    wait = (processing - submitted).total_seconds() if processing is not None else None
    return Sample(question, started, latency, wait, answer, error)


def run_load(url: str, questions: list[str], backend: str, during: Callable[[], Any] | None = None
             ) -> tuple[list[Sample], Any]:
    """One gradio_client session per chat, all released at once; `during` runs while they are in flight."""
    from gradio_client import Client

    clients = [Client(url, verbose=False) for _ in questions]
    barrier = threading.Barrier(len(questions) + 1)
    samples: list[Sample | None] = [None] * len(questions)

    def chat(i: int) -> None:
        barrier.wait()
        samples[i] = timed_ask(clients[i], questions[i], backend)

    threads = [threading.Thread(target=chat, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    barrier.wait()
    result = during() if during else None
    for thread in threads:
        thread.join(900)
    assert not any(t.is_alive() for t in threads)
    return [s for s in samples if s is not None], result


def assert_complete(sample: Sample, index_dir: Path, backend: str) -> None:
    """An Answer whose citations are exact spans of the articles, or a refusal."""
    assert sample.error is None and isinstance(sample.answer, dict), sample
    answer = sample.answer
    assert answer["question"] == sample.question and answer["answer"].strip()
    assert answer["backend"] == backend and answer["notice"] is None, answer  # no fallback, no partial answer
    if answer["refused"]:
        assert answer["answer"] == REFUSAL_TEXT and not answer["citations"]
        return
    assert answer["citations"], answer
    catalog = Catalog(index_dir)
    for c in answer["citations"]:
        assert f"[{c['marker']}]" in answer["answer"]
        article = catalog.get_article(c["article_id"])
        assert article is not None and article.text[c["start"] : c["end"]] == c["quote"]


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def figures(samples: list[Sample], solo: list[float]) -> dict[str, Any]:
    latencies = [s.latency for s in samples]
    waits = [s.queue_wait for s in samples if s.queue_wait is not None]
    service = [s.latency - s.queue_wait for s in samples if s.queue_wait is not None]
    single = statistics.median(solo)

    def stats(values: list[float]) -> dict[str, float]:
        return {"median": round(statistics.median(values), 3), "p95": round(nearest_rank(values, 0.95), 3),
                "max": round(max(values), 3)}

    return {
        "requests": len(samples), "errors": sum(s.error is not None for s in samples),
        "refusals": sum(bool(s.answer and s.answer["refused"]) for s in samples),
        "single_request_seconds": round(single, 3),  # the same server, one chat at a time
        "latency_seconds": stats(latencies),
        "queue_wait_seconds": stats(waits) if waits else None,  # as reported by the server's queue
        "service_seconds": stats(service) if service else None,  # latency minus queue wait
        "latency_minus_single_request_seconds": stats([max(0.0, x - single) for x in latencies]),
    }


def report(name: str, result: dict[str, Any]) -> None:
    FIGURES[name] = result
    FIGURES_FILE.parent.mkdir(exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(FIGURES, indent=2) + "\n")
    lat, wait = result["latency_seconds"], result["queue_wait_seconds"] or {}
    print(f"\n{name}: {result['requests']} concurrent chats, {result['errors']} errors, {result['refusals']} refusals;"
          f" single request {result['single_request_seconds']:.2f} s; latency median {lat['median']:.2f} s,"
          f" p95 {lat['p95']:.2f} s, max {lat['max']:.2f} s; queue wait median {wait.get('median', 0):.2f} s,"
          f" p95 {wait.get('p95', 0):.2f} s, max {wait.get('max', 0):.2f} s;"
          f" service median {(result['service_seconds'] or {}).get('median', 0):.2f} s")


def solo_latencies(url: str, backend: str, n: int = 3) -> list[float]:
    from gradio_client import Client

    client = Client(url, verbose=False)
    return [timed_ask(client, ANSWERABLE[i % len(ANSWERABLE)], backend).latency for i in range(n)]


def test_concurrent_extractive_chats_while_an_article_is_uploaded(server: Server, tmp_path: Path) -> None:
    index_dir = Path(server.settings.index_dir)
    solo = solo_latencies(server.url, "extractive")
    article = tmp_path / "zorbian-lighthouse-act.txt"
    article.write_text(ZORB)

    def upload() -> tuple[dict[str, Any], float, float]:
        time.sleep(0.2)  # the chats are queued and running
        began = time.perf_counter()
        message = ui_event(server.url, "upload", "upload", [upload_files(server.url, [article])])
        return message, began, time.perf_counter()

    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(EXTRACTIVE_CHATS)]
    samples, (message, began, ended) = run_load(server.url, questions, "extractive", upload)

    for sample in samples:
        assert_complete(sample, index_dir, "extractive")
    assert message["success"], message
    report_html = html.unescape(message["output"]["data"][0])
    assert "added: <code>zorbian-lighthouse-act.txt</code>" in report_html, report_html
    overlapping = [s for s in samples if s.started < ended and s.started + s.latency > began]
    assert overlapping, "no chat was in flight while the article was indexed"
    result = figures(samples, solo)
    result["index_update"] = {"seconds": round(ended - began, 3), "chats_in_flight": len(overlapping)}
    report("extractive", result)

    from gradio_client import Client

    after = Client(server.url, verbose=False).predict("What does the Zorbian Lighthouse Act 2031 require?",
                                                      api_name="/ask")
    assert any(c["source"] == "zorbian-lighthouse-act.txt" for c in after["citations"]), after


@pytest.mark.llm
def test_concurrent_local_llm_chats_are_queued_and_all_complete(server: Server) -> None:
    index_dir = Path(server.settings.index_dir)
    solo_latencies(server.url, "local", 1)  # loads the model
    solo = solo_latencies(server.url, "local", 2)
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(LLM_CHATS)]
    samples, _ = run_load(server.url, questions, "local")

    for sample in samples:
        assert_complete(sample, index_dir, "local")
    result = figures(samples, solo)
    report("local", result)
    waits = [s.queue_wait for s in samples]
    assert all(w is not None for w in waits), "the server did not report when each chat started"
    # Two answered at a time: the last of twenty waits for several answers before its own starts.
    assert max(w for w in waits if w is not None) > result["single_request_seconds"]
