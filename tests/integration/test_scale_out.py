"""Scale-out: the index in a real `chroma run` server and the LLM behind `python -m rag.llm.server`.

Nothing of the answer path runs in-process except retrieval's catalog, BM25 and
embedder: vectors live in the Chroma server and generation happens in the LLM
server, reached through the ``openai`` backend. A full answer with verified
citations must come back through both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag.settings import Settings
from tests.conftest import SEEDS, free_port

pytestmark = [pytest.mark.integration, pytest.mark.llm]

MODEL_NAME = "newsrag-scale-out"


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m rag.llm.server` with the packaged 1.5B model; yields its /v1 base URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("llm-server") / "stderr.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == "RAG_MODEL_CACHE"}
    cmd = [sys.executable, "-m", "rag.llm.server", "--port", str(port), "--threads", "2", "--model-name", MODEL_NAME]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log_file, text=True,
                                   env={**env, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the model is loaded and the socket listens
        if not line.startswith("listening on"):
            pytest.fail(f"LLM server did not start: {line!r}\n{log_path.read_text()[-2000:]}")
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture()
def scaled_settings(tmp_path: Path, chroma_server: str, llm_server: str) -> Settings:
    return Settings(
        corpus_dir=SEEDS,
        index_dir=tmp_path / "index",
        chroma_url=chroma_server,
        collection=f"scale_out_{uuid.uuid4().hex[:8]}",
        backend="openai",
        openai_base_url=llm_server,
        openai_model=MODEL_NAME,
    )


def test_index_lives_in_the_chroma_server(scaled_settings: Settings, chroma_server: str) -> None:
    from rag.index.build import build_index
    from rag.index.vectors import VectorStore

    report = build_index(scaled_settings)
    assert report.articles == 3 and report.passages > 0
    assert not (Path(scaled_settings.index_dir) / "chroma").exists()  # nothing embedded on disk
    store = VectorStore(scaled_settings)
    assert store.location == chroma_server
    assert store.count() == report.passages
    assert not build_index(scaled_settings).changed  # incremental against the server too


def test_answer_with_citations_through_both_servers(scaled_settings: Settings) -> None:
    from rag.answer.chain import build_chain
    from rag.index.build import build_index
    from rag.index.catalog import Catalog
    from rag.types import Answer, EvidenceEvent, TokenEvent

    build_index(scaled_settings)
    events = list(build_chain(scaled_settings).stream("Why won't Starmer leave the ECHR?"))

    assert isinstance(events[0], EvidenceEvent) and events[0].passages
    assert any(isinstance(e, TokenEvent) for e in events), "no tokens streamed from the LLM server"
    answer = events[-1]
    assert isinstance(answer, Answer)
    assert answer.backend == "openai" and answer.notice is None, answer.notice
    assert not answer.refused, answer.refusal_reason
    assert answer.citations
    catalog = Catalog(Path(scaled_settings.index_dir))
    for citation in answer.citations:
        article = catalog.get_article(citation.article_id)
        assert article is not None
        assert article.text[citation.start : citation.end] == citation.quote
        assert f"[{citation.marker}]" in answer.answer
