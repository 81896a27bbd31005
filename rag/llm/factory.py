"""The chat model for the configured backend, and a quick check that it works."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from rag.errors import BackendError
from rag.settings import Settings

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 3.0  # an OpenAI-compatible server on the LAN answers /models in milliseconds


def build_chat_model(settings: Settings) -> BaseChatModel:
    """A LangChain chat model for ``settings.backend`` (``local`` or ``openai``).

    ``extractive`` has no chat model: raises ``ValueError``. The local model is
    not loaded here (first call, or :func:`check_backend`), but the packaged GGUF
    is assembled if needed, which may raise :class:`~rag.errors.ModelFileError`.
    """
    if settings.backend == "local":
        from rag.llm.local import ChatLlamaCpp
        from rag.llm.model_files import resolve_model_path

        path = resolve_model_path(settings)
        return ChatLlamaCpp(
            model_path=str(path),
            model_name=path.stem if settings.llm_model_path else settings.llm_model,
            n_threads=settings.llm_threads,
            n_ctx=settings.llm_context,
            temperature=settings.temperature,
            max_tokens=settings.max_answer_tokens,
        )
    if settings.backend == "openai":
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            api_key=settings.openai_api_key,
            timeout=settings.llm_timeout_s,
            max_retries=1,
            temperature=settings.temperature,
            max_completion_tokens=settings.max_answer_tokens,  # the field max_tokens, by its alias
            streaming=True,
            stream_usage=True,
        )
    raise ValueError(f"The {settings.backend!r} backend has no chat model")


def check_backend(model: BaseChatModel) -> None:
    """Raise :class:`BackendError` quickly if ``model`` cannot answer.

    For an OpenAI-compatible model: one GET of ``{base_url}/models`` with a short
    timeout. For the local model: load it (seconds, once per process).
    """
    from rag.llm.local import ChatLlamaCpp

    if isinstance(model, ChatLlamaCpp):
        model.load()
        return
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:  # pragma: no cover - a dependency of the project
        return
    if isinstance(model, ChatOpenAI):
        _check_openai(model)


def _check_openai(model: ChatOpenAI) -> None:
    import httpx

    base_url = (model.openai_api_base or "https://api.openai.com/v1").rstrip("/")
    headers = {}
    key = model.openai_api_key
    if isinstance(key, SecretStr):
        headers["Authorization"] = f"Bearer {key.get_secret_value()}"
    url = f"{base_url}/models"
    try:
        response = httpx.get(url, headers=headers, timeout=CHECK_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise BackendError(
            f"The LLM server at {base_url} is unreachable ({type(exc).__name__}): "
            "start it, fix RAG_OPENAI_BASE_URL, or set RAG_BACKEND=extractive"
        ) from exc
    if response.status_code in (401, 403):
        raise BackendError(f"The LLM server at {base_url} refused the API key: set RAG_OPENAI_API_KEY")
    if response.status_code >= 400:
        raise BackendError(
            f"The LLM server at {base_url} answered {response.status_code} to GET /models: "
            "check RAG_OPENAI_BASE_URL (it usually ends in /v1)"
        )
    log.debug("LLM server at %s is up", base_url)
