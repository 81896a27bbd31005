"""Unit tests load no model: the embedder's torch stack is never imported and no GGUF engine is started."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _no_model_is_loaded(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if any("/unit/" not in str(item.path) for item in request.session.items):
        return  # run together with the integration tests, which load them on purpose
    assert not {"torch", "sentence_transformers"} & set(sys.modules), "a unit test loaded the embedder"
    local = sys.modules.get("rag.llm.local")
    assert local is None or not local._engines, "a unit test started a llama.cpp engine"
