"""Replicas over one Chroma server: the server is the index's system of record.

A real `chroma run` on 127.0.0.1, app processes with separate, empty local index
folders, `rag index` runs killed and run side by side against it: what one replica
indexes answers on the other, and every interleaving converges to a clean build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.errors import IndexCorruptError, RagError
from rag.index.build import build_index
from rag.index.catalog import Catalog
from rag.index.handle import Index, forget_opened
from rag.index.remote import ServerRecords
from rag.index.vectors import VectorStore
from rag.settings import Settings
from tests.conftest import BBC_CSV, SEEDS
from tests.integration.test_app import ZORB, Server, start_app, stop_app
from tests.integration.test_indexer import kill_corpus, kill_ten_times

pytestmark = pytest.mark.integration

ZORB_QUESTION = "How much will the Lighthouse Act cost?"


def server_settings(tmp: Path, chroma_url: str, collection: str, corpus: Path = SEEDS) -> Settings:
    return Settings(corpus_dir=corpus, index_dir=tmp / "cache", backend="extractive", chroma_url=chroma_url,
                    collection=collection)


def snapshot(settings: Settings) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """What the server holds: articles (id -> source, hash, text, passages) and passages (id -> text and every
    metadata field), read straight from its collections. Sentence vectors count by their size: the same text
    embedded in another batch differs in the last float16 bits."""
    store = VectorStore(settings)
    records = ServerRecords(settings, store)
    articles = records._articles.get(include=["metadatas", "documents"])
    passages = store.collection.get(include=["metadatas", "documents"])
    by_article = {
        aid: (meta["source"], meta["content_hash"], text, meta["passages"])
        for aid, meta, text in zip(articles["ids"], articles["metadatas"], articles["documents"], strict=True)
    }
    by_passage = {
        pid: (text, tuple(sorted({**meta, "sentence_vectors": len(meta["sentence_vectors"])}.items())))
        for pid, meta, text in zip(passages["ids"], passages["metadatas"], passages["documents"], strict=True)
    }
    return by_article, by_passage


def assert_consistent(articles: dict[str, tuple[Any, ...]], passages: dict[str, tuple[Any, ...]]) -> None:
    """No orphan and no missing passage: each passage belongs to the current version of an article."""
    for pid, (_, meta) in passages.items():
        fields = dict(meta)
        assert fields["article_id"] in articles, f"orphan passage {pid}"
        assert fields["content_hash"] == articles[fields["article_id"]][1], f"passage {pid} of an old version"
    for aid, (_, _, _, count) in articles.items():
        assert sum(dict(meta)["article_id"] == aid for _, meta in passages.values()) == count


# --- writers against the server ----------------------------------------------------------------


def _server_generation(settings: Settings) -> int:
    try:
        state = ServerRecords(settings, VectorStore(settings)).state()
    except Exception:  # noqa: BLE001  (the collections are being created)
        return -1
    return state.generation if state else 0


def _index_command(settings: Settings) -> tuple[list[str], dict[str, str]]:
    command = [sys.executable, "-m", "rag.cli", "index", "--corpus", str(settings.corpus_dir),
               "--index", str(settings.index_dir)]
    env = {**os.environ, "RAG_CHROMA_URL": str(settings.chroma_url), "RAG_COLLECTION": settings.collection}
    return command, env


@pytest.mark.skipif(not BBC_CSV.exists(), reason="needs ../shared/corpora")
def test_killed_indexer_against_the_server_converges_to_a_clean_build(tmp_path: Path, chroma_server: str) -> None:
    """SIGKILL `rag index` at random moments while it writes to the server, 10 times; the next run equals a
    clean build, in the server and in the writer's cache."""
    corpus = kill_corpus(tmp_path, articles=30)
    articles = sorted((corpus / "bbc").rglob("*.txt"))
    killed = server_settings(tmp_path / "killed", chroma_server, f"killed-{uuid.uuid4().hex[:8]}", corpus)
    command, env = _index_command(killed)
    kills = kill_ten_times(command, env, articles, lambda: _server_generation(killed), seed=4321, edits=11,
                           longest_wait=5.0, poll=0.05, after_commit=0.3)  # the longest wait covers the lease
    assert kills >= 5, f"only {kills} of 10 kills landed while the indexer was running"

    build_index(killed)  # takes over the dead run's lease at once, repairs, finishes
    clean = server_settings(tmp_path / "clean", chroma_server, f"clean-{uuid.uuid4().hex[:8]}", corpus)
    build_index(clean)
    got, want = snapshot(killed), snapshot(clean)
    assert {aid: row[:3] for aid, row in got[0].items()} == {aid: row[:3] for aid, row in want[0].items()}
    assert got[1] == want[1]
    assert_consistent(*got)
    cache = Catalog(Path(killed.index_dir))
    assert cache.passage_ids() == set(got[1])
    assert set(cache.sentence_vectors(cache.passage_ids())) == set(got[1])
    state = ServerRecords(killed, VectorStore(killed)).state()
    assert state is not None and not state.dirty and not state.lease


def test_two_concurrent_index_runs_leave_no_duplicates(tmp_path: Path, chroma_server: str) -> None:
    collection = f"twice-{uuid.uuid4().hex[:8]}"
    first, second = (server_settings(tmp_path / name, chroma_server, collection) for name in ("one", "two"))
    runs = []
    for settings in (first, second):
        command, env = _index_command(settings)
        runs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    clean = server_settings(tmp_path / "clean", chroma_server, f"clean-{uuid.uuid4().hex[:8]}")
    build_index(clean)
    got, want = snapshot(first), snapshot(clean)
    assert got[1] == want[1] and len(got[0]) == 3
    assert_consistent(*got)
    # One run wrote the articles, the other waited for the lease and found nothing to do.
    added = sorted(int(out.split(" added")[0].split()[-1]) for out, _ in outputs)
    assert added == [0, 3], outputs


# --- a replica's cache -------------------------------------------------------------------------------


def test_a_replicas_cache_can_be_deleted_and_follows_a_rebuild(tmp_path: Path, chroma_server: str) -> None:
    from rag.answer.retrieve import get_search

    collection = f"cache-{uuid.uuid4().hex[:8]}"
    writer = server_settings(tmp_path / "writer", chroma_server, collection)
    build_index(writer)
    reader = server_settings(tmp_path / "reader", chroma_server, collection, corpus=tmp_path)
    question = "Why won't Starmer leave the ECHR?"
    found = get_search(reader).retrieve(question, 3).passages
    assert found and Index.open(reader).catalog.counts() == Catalog(Path(writer.index_dir)).counts()

    shutil.rmtree(reader.index_dir)  # the cache is disposable: the next search copies the index again
    assert [p.passage_id for p in get_search(reader).retrieve(question, 3).passages] == [p.passage_id for p in found]

    build_index(writer, rebuild=True)  # a new epoch: passages in a new collection
    time.sleep(1.1)
    again = get_search(reader).retrieve(question, 3).passages
    assert [p.passage_id for p in again] == [p.passage_id for p in found]
    forget_opened()


def test_replicas_starting_together_on_an_empty_server_each_add_their_folder(
    tmp_path: Path, chroma_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.index.build import ensure_index

    collection = f"start-{uuid.uuid4().hex[:8]}"
    (tmp_path / "b-corpus").mkdir()
    (tmp_path / "b-corpus" / "zorb.txt").write_text(ZORB)
    first = server_settings(tmp_path / "a", chroma_server, collection)
    second = server_settings(tmp_path / "b", chroma_server, collection, corpus=tmp_path / "b-corpus")
    assert ensure_index(first) is not None and ensure_index(second) is None  # one start builds, the next finds it
    # Both started before either had written: both build, and the second keeps the first's articles.
    monkeypatch.setattr(Index, "exists", staticmethod(lambda settings: False))
    report = ensure_index(second)
    assert report is not None and report.added == ["zorb.txt"] and not report.removed
    assert len(snapshot(first)[0]) == 4


def test_a_server_that_is_down_is_a_one_line_error_for_readers_and_writers(tmp_path: Path) -> None:
    from tests.conftest import free_port

    down = server_settings(tmp_path, f"http://127.0.0.1:{free_port()}", "down")  # nothing listens there
    for attempt in (lambda: Index.open(down), lambda: build_index(down)):
        with pytest.raises(IndexCorruptError, match="Check that the server is running") as caught:
            attempt()
        assert "\n" not in str(caught.value)


def test_an_embedded_index_folder_is_not_taken_for_a_cache(tmp_path: Path, chroma_server: str) -> None:
    embedded = Settings(corpus_dir=SEEDS, index_dir=tmp_path / "index", backend="extractive")
    build_index(embedded)
    with pytest.raises(RagError, match="only a cache"):
        build_index(embedded.model_copy(update={"chroma_url": chroma_server, "collection": "not-a-cache"}))
    assert Catalog(Path(embedded.index_dir)).counts()[0] == 3  # nothing lost


# --- two app processes over one server (last: the apps run until the module ends) ------------------------


@pytest.fixture(scope="module")
def replicas(chroma_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """Two `python app.py` (chat and API, extractive) with separate, empty index folders over one Chroma server;
    the seeds are indexed into the server first by `rag index`, from a third folder."""
    base = tmp_path_factory.mktemp("replicas")
    collection = f"replicas-{uuid.uuid4().hex[:8]}"
    env = {"RAG_CHROMA_URL": chroma_server, "RAG_COLLECTION": collection}
    subprocess.run([sys.executable, "-m", "rag.cli", "index", "--corpus", str(SEEDS), "--index",
                    str(base / "indexer-cache")], check=True, env={**os.environ, **env}, capture_output=True)
    started = []
    try:
        for name in ("a", "b"):
            (base / name / "corpus").mkdir(parents=True)
            settings = Settings(corpus_dir=base / name / "corpus", index_dir=base / name / "index")
            started.append(start_app(settings, base / name, **env))
        assert not any((base / name / "index" / "chroma").exists() for name in ("a", "b"))
        yield started[0], started[1]
    finally:
        for running in started:
            stop_app(running.process)


def chat(server: Server, question: str) -> dict[str, Any]:
    reply = httpx.post(server.url + "v1/chat/completions", timeout=120,
                       json={"model": "newsrag", "messages": [{"role": "user", "content": question}]})
    assert reply.status_code == 200, reply.text
    return reply.json()["choices"][0]["message"]


def cited_sources(message: dict[str, Any]) -> set[str]:
    return {c["source"] for c in message["citations"]}


def poll(check: Any, seconds: float = 30.0) -> float:
    """Seconds until check() is true (fails after ``seconds``)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"not seen within {seconds:.0f} s"
        time.sleep(0.25)
    return time.monotonic() - started


def test_an_upload_on_one_replica_answers_on_the_other_and_a_removal_there_leaves_both(
    replicas: tuple[Server, Server],
) -> None:
    a, b = replicas
    assert "zorb.txt" not in cited_sources(chat(b, ZORB_QUESTION))
    upload = httpx.post(a.url + "v1/articles", files={"file": ("zorb.txt", ZORB.encode(), "text/plain")},
                        timeout=120)
    assert upload.status_code == 201, upload.text
    article_id = upload.json()["articles"][0]["id"]

    seen_after = poll(lambda: "zorb.txt" in cited_sources(chat(b, ZORB_QUESTION)))
    answer = chat(b, ZORB_QUESTION)
    assert "40 million crowns" in answer["content"] and not answer["refused"]
    cited = next(c for c in answer["citations"] if c["source"] == "zorb.txt")
    served = httpx.get(b.url + f"v1/articles/{article_id}", timeout=30).json()  # B serves A's upload's text
    assert served["text"][cited["start"] : cited["end"]] == cited["quote"]
    print(f"upload on A answered on B after {seen_after:.2f} s")

    removed = httpx.delete(b.url + f"v1/articles/{article_id}", timeout=120)
    assert removed.status_code == 200, removed.text
    poll(lambda: "zorb.txt" not in cited_sources(chat(a, ZORB_QUESTION)))
    assert httpx.get(a.url + f"v1/articles/{article_id}", timeout=30).status_code == 404
    assert all(row["source"] != "zorb.txt" for row in httpx.get(a.url + "v1/articles", timeout=30).json()["data"])


def test_twenty_concurrent_chats_over_both_replicas_while_one_indexes(replicas: tuple[Server, Server]) -> None:
    questions = ["Why won't Starmer leave the ECHR?", "Who wrote the op-ed with Starmer?",
                 "Which by-election did Reform UK win?", "What did Denmark's prime minister call for?"]
    failures: list[str] = []
    answered: list[dict[str, Any]] = []

    def one_chat(i: int) -> None:
        server = replicas[i % 2]
        try:
            answered.append(chat(server, questions[i % len(questions)]))
        except Exception as exc:  # noqa: BLE001  (the failure is the assertion below, with every message)
            failures.append(f"{server.url} {i}: {exc}")

    article = ZORB.replace("Zorbian", "Quellish").replace("40 million crowns", "12 million florins")
    uploading = threading.Thread(target=lambda: answered.append(httpx.post(
        replicas[1].url + "v1/articles", files={"file": ("quell.txt", article.encode(), "text/plain")},
        timeout=300).json()))
    chats = [threading.Thread(target=one_chat, args=(i,)) for i in range(20)]
    uploading.start()
    for thread in chats:
        thread.start()
    for thread in [*chats, uploading]:
        thread.join(300)
    assert not failures, failures
    assert sum(1 for reply in answered if "citations" in reply and not reply["refused"]) >= 15
    upload = [reply for reply in answered if "articles" in reply]
    assert upload and upload[0]["articles"][0]["source"] == "quell.txt"
    poll(lambda: "quell.txt" in cited_sources(chat(replicas[0], "How much will the Quellish Lighthouse Act cost?")))
