"""The standard LangChain tutorial RAG pipeline, as the benchmark's baseline.

It is the pipeline of LangChain's "Build a RAG app" tutorial, built only from
langchain-core runnables: ``RecursiveCharacterTextSplitter(1000, 200)`` over the
same cleaned article texts our indexer stores, ``langchain_chroma.Chroma`` with
the same MiniLM embedder, a top-4 similarity retriever and the tutorial's prompt
stuffed into the same chat model. Nothing here is tuned: it is the yardstick.

    base = open_baseline(persist_dir, embedder)          # after ingest_baseline(...)
    chain = base.chain(llm)                              # question -> answer text
    run = stream_timed(chain, "Why won't Starmer leave the ECHR?")
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import LLMResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnablePassthrough

log = logging.getLogger(__name__)

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200
TOP_K = 4
COLLECTION = "baseline"

TUTORIAL_PROMPT = (
    "Use the following pieces of retrieved context to answer the question. "
    "If you don't know the answer, say that you don't know. "
    "Use three sentences maximum and keep the answer concise.\n"
    "Question: {question}\n"
    "Context: {context}\n"
    "Answer:"
)


def load_documents(corpus_dir: Path) -> list[Document]:
    """The corpus as Documents of cleaned article text (the text our own index stores)."""
    from rag.ingest.load import load_article
    from rag.ingest.scan import scan_corpus

    files, problems = scan_corpus(Path(corpus_dir), 10_000_000)
    for problem in problems:
        log.info("baseline skips %s: %s", problem.source, problem.reason)
    documents = []
    for file in files:
        article = load_article(file)
        documents.append(Document(page_content=article.text, metadata={"source": article.source, "title": article.title}))
    return documents


def split_documents(documents: list[Document]) -> list[Document]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True)
    return splitter.split_documents(documents)


@dataclass
class BaselineIngest:
    documents: int
    chunks: int
    seconds: float


def ingest_baseline(corpus_dir: Path, persist_dir: Path, embedder: Embeddings) -> BaselineIngest:
    """Load, split, embed and store the corpus the tutorial's way; timed from the files."""
    from langchain_chroma import Chroma

    started = time.perf_counter()
    documents = load_documents(corpus_dir)
    chunks = split_documents(documents)
    Chroma.from_documents(
        documents=chunks, embedding=embedder, collection_name=COLLECTION, persist_directory=str(persist_dir)
    )
    return BaselineIngest(len(documents), len(chunks), time.perf_counter() - started)


def format_docs(docs: list[Document]) -> str:
    return "\n\n".join(doc.page_content for doc in docs)


@dataclass
class Baseline:
    """An opened baseline index; ``chain(llm)`` is the tutorial's runnable."""

    vectorstore: Any  # langchain_chroma.Chroma (imported lazily)
    retriever: BaseRetriever

    def chain(self, llm: BaseChatModel) -> Runnable[str, str]:
        prompt = ChatPromptTemplate.from_messages([("human", TUTORIAL_PROMPT)])
        return (
            {"context": self.retriever | format_docs, "question": RunnablePassthrough()}
            | prompt
            | llm
            | StrOutputParser()
        )

    def count(self) -> int:
        return int(self.vectorstore._collection.count())


def open_baseline(persist_dir: Path, embedder: Embeddings) -> Baseline:
    from langchain_chroma import Chroma

    store = Chroma(collection_name=COLLECTION, embedding_function=embedder, persist_directory=str(persist_dir))
    retriever = store.as_retriever(search_type="similarity", search_kwargs={"k": TOP_K})
    return Baseline(store, retriever)


class _Timings(BaseCallbackHandler):
    """Records when retrieval ended (with its documents) and the LLM's token usage."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.retrieved_at: float | None = None
        self.documents: list[Document] = []
        self.usage: dict[str, int] = {}
        self.llama: dict[str, float] = {}

    def on_retriever_end(self, documents: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any) -> None:
        self.retrieved_at = time.perf_counter() - self.started
        self.documents = list(documents)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any) -> None:
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                usage = getattr(message, "usage_metadata", None) or {}
                for key in ("input_tokens", "output_tokens"):
                    if key in usage:
                        self.usage[key] = self.usage.get(key, 0) + int(usage[key])
                timings = (getattr(message, "response_metadata", None) or {}).get("timings") or {}
                for key, value in timings.items():
                    if isinstance(value, (int, float)):
                        self.llama[key] = self.llama.get(key, 0) + float(value)


@dataclass
class BaselineRun:
    """One streamed baseline answer with its timestamps (seconds since the call)."""

    question: str
    answer: str
    first_evidence: float | None
    first_token: float | None
    total: float
    contexts: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    llama: dict[str, float] = field(default_factory=dict)  # llama.cpp's timings, when the model reports them


def stream_timed(chain: Runnable[str, str], question: str) -> BaselineRun:
    """Stream the chain once, timing retrieval end, the first non-empty token and the end."""
    started = time.perf_counter()
    recorder = _Timings(started)
    first_token: float | None = None
    pieces: list[str] = []
    for piece in chain.stream(question, config={"callbacks": [recorder]}):
        if piece and first_token is None:
            first_token = time.perf_counter() - started
        pieces.append(piece)
    total = time.perf_counter() - started
    return BaselineRun(
        question=question,
        answer="".join(pieces).strip(),
        first_evidence=recorder.retrieved_at,
        first_token=first_token,
        total=total,
        contexts=[doc.page_content for doc in recorder.documents],
        usage=recorder.usage,
        llama=recorder.llama,
    )
