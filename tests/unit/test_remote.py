"""Server mode's pure parts: what a passage carries into the server, whose lease is dead, what a cache is."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.errors import RagError
from rag.index.catalog import Catalog
from rag.index.remote import _holder_is_dead, _sentences_from, check_cache, passage_metadata
from rag.settings import Settings
from rag.types import Article, Passage, SentenceVectors

ARTICLE = Article(id="a1", source="x/a.txt", title="A", publisher=None, date="2025-01-02", url=None,
                  text="One. Two three.", content_hash="h" * 64)
PASSAGE = Passage(id="a1-hhhhhhhh-0000", article_id="a1", ordinal=0, text="One. Two three.", start=0, end=15)


def test_a_passage_carries_its_article_fields_and_sentence_vectors_into_the_server() -> None:
    vectors = np.random.default_rng(0).standard_normal((2, 384)).astype(np.float32)
    meta = passage_metadata(PASSAGE, ARTICLE, SentenceVectors([(0, 4), (5, 15)], vectors), full=True)
    assert meta["content_hash"] == ARTICLE.content_hash and meta["date"] == "2025-01-02"
    assert "publisher" not in meta  # Chroma keeps no None
    back = _sentences_from(meta)
    assert back is not None and back.spans == [(0, 4), (5, 15)]
    assert np.allclose(back.vectors, vectors, atol=2e-3)  # stored as float16
    embedded = passage_metadata(PASSAGE, ARTICLE, None, full=False)  # embedded mode: as before
    assert set(embedded) == {"article_id", "source", "title", "ordinal", "start", "end"}


def test_only_a_lease_holder_that_exited_on_this_host_is_dead() -> None:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    host = socket.gethostname()
    assert _holder_is_dead(f"{host}:{exited.pid}:abcd")
    assert not _holder_is_dead(f"{host}:{__import__('os').getpid()}:abcd")
    assert not _holder_is_dead(f"another-host:{exited.pid}:abcd")  # cannot tell: wait for its expiry


def test_a_cache_of_another_server_is_emptied_and_an_index_of_its_own_is_refused(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path, chroma_url="http://chroma:8000", collection="news")
    catalog = Catalog(tmp_path, create=True)
    catalog.replace_articles([(ARTICLE, [PASSAGE], None)])
    with pytest.raises(RagError, match="only a cache"):
        check_cache(catalog, settings)
    assert catalog.counts() == (1, 1)  # nothing lost

    catalog.set_meta(cache_of="http://old:8000 news")  # a cache of another server: emptied and re-marked
    check_cache(catalog, settings)
    assert catalog.counts() == (0, 0) and catalog.get_meta("cache_of") == "http://chroma:8000 news"
