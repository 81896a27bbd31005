"""Shared fixtures: real embedder, real Chroma on disk, indexes built once per session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Collection, Iterator
from pathlib import Path

import httpx
import pytest

import rag  # noqa: F401  (offline environment before anything heavy loads)
from rag.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
SHARED = REPO.parent / "shared"
BBC_CSV = SHARED / "corpora" / "bbc-news-sport-politics.csv"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Never read a developer's .env or RAG_* variables; keep model caches shared."""
    for name in list(os.environ):
        if name.startswith("RAG_") and name != "RAG_MODEL_CACHE":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.getbasetemp())


def make_settings(tmp: Path, corpus: Path = SEEDS, **overrides: object) -> Settings:
    return Settings(corpus_dir=corpus, index_dir=tmp / "index", backend="extractive", **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An index of the three seed articles, built once per session."""
    from rag.index.build import build_index

    settings = make_settings(tmp_path_factory.mktemp("seed-index"))
    build_index(settings)
    return settings


def seeds_and_bbc(corpus: Path, rows: Collection[int] | None = None) -> Path:
    """``corpus`` filled with the seeds and the BBC articles (only ``rows`` when given); skips without the CSV."""
    if not BBC_CSV.exists():
        pytest.skip(f"{BBC_CSV} not found (../shared/corpora beside the repo)")
    from evals.corpora import write_bbc_articles

    shutil.copytree(SEEDS, corpus / "seeds")
    write_bbc_articles(BBC_CSV, corpus, rows=rows)
    return corpus


@pytest.fixture(scope="session")
def bbc_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeds plus the 928 BBC articles as distractors, as one folder of files."""
    return seeds_and_bbc(tmp_path_factory.mktemp("bbc-corpus"))


@pytest.fixture(scope="session")
def bbc_settings(tmp_path_factory: pytest.TempPathFactory, bbc_corpus: Path) -> Settings:
    """An index of seeds + BBC, built once per session (~1.5 min on 2 cores)."""
    from rag.index.build import build_index

    settings = make_settings(tmp_path_factory.mktemp("bbc-index"), corpus=bbc_corpus)
    build_index(settings)
    return settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` on 127.0.0.1; yields its URL."""
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    chroma = Path(sys.executable).parent / "chroma"
    log = open(data / "server.log", "w")
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/api/v2/heartbeat", 60, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
