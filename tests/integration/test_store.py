"""The Chroma store opened from several threads at once (the app does this on its first requests)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rag.index.vectors import VectorStore
from rag.settings import Settings

pytestmark = pytest.mark.integration


def test_concurrent_first_open(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def open_and_count() -> None:
        try:
            VectorStore(Settings(index_dir=tmp_path / "index")).count()
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_and_count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_bad_chroma_url_is_a_clear_error(tmp_path: Path) -> None:
    from rag.errors import RagError

    with pytest.raises(RagError, match="RAG_CHROMA_URL"):
        VectorStore(Settings(index_dir=tmp_path, chroma_url="not a url"))
