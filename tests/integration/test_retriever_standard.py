"""LangChain's own contract suite for retrievers, run on our hybrid retriever."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from rag.answer.retrieve import HybridRetriever
from rag.settings import Settings

pytestmark = pytest.mark.integration


class TestHybridRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _index(self, seed_settings: Settings) -> None:
        type(self).settings = seed_settings

    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"settings": self.settings}

    @property
    def retriever_query_example(self) -> str:
        return "Why won't Starmer leave the ECHR?"
