"""-v / -vv / RAG_LOG map to per-module log levels."""

from __future__ import annotations

import logging

import pytest

from rag.errors import RagError
from rag.logs import module_levels


def test_quiet_by_default_and_louder_for_our_modules_first() -> None:
    assert module_levels(0) == (logging.WARNING, {"rag": logging.WARNING, "evals": logging.WARNING})
    assert module_levels(1) == (logging.WARNING, {"rag": logging.INFO, "evals": logging.INFO})
    assert module_levels(2) == (logging.INFO, {"rag": logging.DEBUG, "evals": logging.DEBUG})


def test_rag_log_sets_single_modules_on_top() -> None:
    root, levels = module_levels(1, "rag.answer=debug, chromadb=ERROR")
    assert root == logging.WARNING
    assert levels["rag.answer"] == logging.DEBUG and levels["chromadb"] == logging.ERROR and levels["rag"] == logging.INFO


@pytest.mark.parametrize("value", ["rag.answer", "=DEBUG", "rag=LOUD"])
def test_a_malformed_rag_log_is_a_one_line_error(value: str) -> None:
    with pytest.raises(RagError, match="RAG_LOG: expected module=LEVEL"):
        module_levels(0, value)
