"""llama.cpp in-process, as a LangChain chat model.

xllamacpp embeds llama.cpp's C++ server: ``Server(params)`` loads the GGUF and
runs the server's scheduling loop on its own thread; ``handle_chat_completions``
takes an OpenAI-style request dict and answers through the same code path as
``llama-server``'s ``/v1/chat/completions`` (chat template, stop strings, prompt
cache, logprobs). It is thread-safe: concurrent requests wait for a free slot.

One engine per (path, load parameters) is kept for the whole process, because a
load costs seconds and hundreds of MB; requests with different sampling settings
share it. ``cache_prompt`` keeps the KV cache of the previous request, so a
fixed system prompt is read once and only the new suffix is evaluated.
"""

from __future__ import annotations

import atexit
import logging
import math
import queue
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import InputTokenDetails, UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, field_validator, model_validator

from rag.errors import BackendError, ModelFileError
from rag.llm.model_files import is_gguf

if TYPE_CHECKING:
    import xllamacpp

log = logging.getLogger(__name__)

PROVIDER = "llamacpp"


# --- engines -----------------------------------------------------------------


@dataclass(frozen=True)
class EngineConfig:
    """What a loaded model depends on; per-request settings (temperature, ...) are not here."""

    model_path: str
    n_ctx: int = 4096
    n_threads: int = 2
    n_parallel: int = 1
    n_batch: int = 512
    cache_ram_mib: int = 1024


_engines: dict[EngineConfig, xllamacpp.Server] = {}
_engines_lock = threading.Lock()


def make_params(
    config: EngineConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    alias: str | None = None,
    http_threads: int = 1,
) -> xllamacpp.CommonParams:
    """The xllamacpp parameters for ``config`` (shared by the in-process engine and the HTTP server)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = config.model_path
    # Total context; llama.cpp divides it between the parallel slots.
    params.n_ctx = config.n_ctx * config.n_parallel
    params.n_parallel = config.n_parallel
    params.n_batch = config.n_batch
    params.n_ubatch = min(512, config.n_batch)
    params.cpuparams.n_threads = config.n_threads
    params.cpuparams_batch.n_threads = config.n_threads
    params.cache_prompt = True
    # Host-RAM copies of evicted prompt caches; llama.cpp's default (8 GiB) is too much here.
    params.cache_ram_mib = config.cache_ram_mib
    params.fit_params = False  # CPU only: fitting to device memory costs a second model open (~1 s)
    params.ctx_shift = False  # fail loudly rather than silently drop the start of a long prompt
    params.verbosity = 3 if log.isEnabledFor(logging.DEBUG) else 1  # llama.cpp's own stderr log: errors only
    params.hostnames = [host]
    params.port = port
    params.n_threads_http = http_threads
    if api_key:
        params.api_keys = [api_key]
    if alias:
        params.model_alias = {alias}
    return params


def get_engine(config: EngineConfig) -> xllamacpp.Server:
    """The process-wide engine for ``config``, loading the model on first use."""
    engine = _engines.get(config)
    if engine is not None:
        return engine
    with _engines_lock:
        engine = _engines.get(config)
        if engine is None:
            engine = _load(config)
            _engines[config] = engine
    return engine


def _load(config: EngineConfig) -> xllamacpp.Server:
    path = Path(config.model_path)
    if not path.is_file():
        raise ModelFileError(f"LLM model file {path} does not exist: check RAG_LLM_MODEL_PATH")
    if not is_gguf(path):
        raise ModelFileError(f"{path} is not a GGUF model (it does not start with 'GGUF'): point at a .gguf file")
    try:
        import xllamacpp
    except ImportError as exc:
        raise BackendError(f"xllamacpp is not installed ({exc}): run `pip install xllamacpp`") from exc
    # xllamacpp always opens an HTTP listener too; a random key keeps that in-process one private.
    params = make_params(config, api_key=secrets.token_urlsafe(24))
    started = time.perf_counter()
    try:
        engine = xllamacpp.Server(params)
    except RuntimeError as exc:
        raise BackendError(
            f"llama.cpp could not load {path.name} (n_ctx={config.n_ctx}, threads={config.n_threads}): "
            "check that the file is a complete GGUF model and that memory is sufficient"
        ) from exc
    log.info(
        "loaded %s in %.1f s (n_ctx=%d, threads=%d)",
        path.name,
        time.perf_counter() - started,
        config.n_ctx,
        config.n_threads,
    )
    return engine


def unload_all() -> None:
    """Free every loaded model (each engine waits for its running request to end)."""
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    del engines


atexit.register(unload_all)  # join llama.cpp's threads before the interpreter tears down


# --- messages and responses ----------------------------------------------------


def _text(content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        else:
            kind = block.get("type") if isinstance(block, Mapping) else type(block).__name__
            raise ValueError(f"ChatLlamaCpp accepts text only, not {kind!r} content")
    return "".join(parts)


def to_openai_messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages as the OpenAI-style dicts llama.cpp's chat template expects."""
    out: list[dict[str, str]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            role = "system"
        elif isinstance(message, HumanMessage):
            role = "user"
        elif isinstance(message, AIMessage):
            role = "assistant"
        elif isinstance(message, ToolMessage):
            role = "tool"
        elif isinstance(message, ChatMessage):
            role = message.role
        else:
            raise TypeError(f"ChatLlamaCpp cannot send a {type(message).__name__}")
        out.append({"role": role, "content": _text(message.content)})
    return out


def _raise_for_error(payload: Mapping[str, Any]) -> None:
    error = payload.get("error")
    if not error:
        return
    if isinstance(error, Mapping):
        if error.get("type") == "exceed_context_size_error":
            raise BackendError(
                f"The prompt ({error.get('n_prompt_tokens')} tokens) does not fit the model's context "
                f"({error.get('n_ctx')} tokens): shorten it or raise RAG_LLM_CONTEXT"
            )
        message = error.get("message", error)
    else:
        message = error
    raise BackendError(f"llama.cpp rejected the request: {message}")


def _usage(usage: Mapping[str, Any] | None) -> UsageMetadata | None:
    if not usage:
        return None
    prompt = int(usage.get("prompt_tokens", 0))
    completion = int(usage.get("completion_tokens", 0))
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    metadata = UsageMetadata(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion)
    if cached is not None:
        metadata["input_token_details"] = InputTokenDetails(cache_read=int(cached))
    return metadata


class _StreamState:
    """What arrives besides text: finish reason, usage, llama.cpp timings, logprobs."""

    def __init__(self) -> None:
        self.finish_reason: str | None = None
        self.usage: Mapping[str, Any] | None = None
        self.timings: Mapping[str, Any] | None = None
        self.logprobs: list[Any] = []

    def take(self, chunk: Mapping[str, Any]) -> str:
        """Record ``chunk``'s metadata and return its text."""
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        if chunk.get("timings"):
            self.timings = chunk["timings"]
        text = ""
        for choice in chunk.get("choices") or ():
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            logprobs = choice.get("logprobs")
            if logprobs and logprobs.get("content"):
                self.logprobs.extend(logprobs["content"])
            text += (choice.get("delta") or {}).get("content") or ""
        return text


# --- choice scoring -------------------------------------------------------------

_STRIP = string.whitespace + string.punctuation


def score_choices(top_logprobs: Sequence[tuple[str, float]], choices: Sequence[str]) -> dict[str, float]:
    """Normalised probability of each choice from the first token's top logprobs.

    A token counts for a choice when, ignoring case, surrounding spaces and
    punctuation, it equals the choice or is a prefix of exactly one choice (a
    multi-token choice starts with its first piece). Tokens matching no choice
    are left out, and the rest is renormalised.
    """
    if len(set(choices)) != len(choices) or not choices:
        raise ValueError(f"choices must be distinct and non-empty, got {choices!r}")
    normal = {c: c.strip(_STRIP).lower() for c in choices}
    mass = dict.fromkeys(choices, 0.0)
    for token, logprob in top_logprobs:
        t = token.strip(_STRIP).lower()
        if not t:
            continue
        matches = [c for c in choices if normal[c] == t] or [c for c in choices if normal[c].startswith(t)]
        if len(matches) == 1:
            mass[matches[0]] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0.0:
        shown = ", ".join(repr(t) for t, _ in top_logprobs[:5])
        raise BackendError(f"None of {list(choices)} is among the model's likely first tokens ({shown}, ...)")
    return {c: m / total for c, m in mass.items()}


# --- the chat model ----------------------------------------------------------------

_DONE = object()


class ChatLlamaCpp(BaseChatModel):
    """A GGUF model run in-process by llama.cpp (through xllamacpp).

    The model loads on the first call (or :meth:`load`) and is shared by every
    instance with the same load parameters. Unknown keyword arguments given to
    ``invoke``/``bind`` are sent as llama.cpp request options (``top_k``, ``seed``,
    ``logprobs``, ...).
    """

    model_path: str | Path = Field(description="Path of the GGUF file (stored as a str).")
    model_name: str = Field("", description="Name reported in metadata; defaults to the file's stem.")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 means greedy decoding.")
    max_tokens: int | None = Field(
        256, ge=1, description="Most tokens generated per call (None: until the context is full)."
    )
    stop: list[str] | None = Field(None, description="Stop strings, excluded from the output.")
    n_ctx: int = Field(4096, ge=256, description="Context window per request, in tokens.")
    n_threads: int = Field(2, ge=1, description="CPU threads for llama.cpp.")
    n_parallel: int = Field(1, ge=1, description="Requests decoded at once; more wait in llama.cpp's queue.")
    n_batch: int = Field(512, ge=32, description="Prompt tokens evaluated per batch.")
    cache_ram_mib: int = Field(1024, ge=0, description="Host RAM for cached prompt prefixes of earlier requests.")
    cache_prompt: bool = Field(True, description="Reuse the KV cache of a shared prompt prefix.")
    seed: int | None = None
    timeout: float | None = Field(None, gt=0, description="Seconds before a call is abandoned (checked per token).")
    max_retries: int = Field(0, ge=0, description="Accepted for interface compatibility; local calls are not retried.")
    streaming: bool = False

    @field_validator("model_path", mode="before")
    @classmethod
    def _path_to_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, Path) else value

    @model_validator(mode="after")
    def _default_name(self) -> ChatLlamaCpp:
        if not self.model_name:
            self.model_name = Path(self.model_path).stem
        return self

    # --- LangChain plumbing ---------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "llamacpp-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "model_path": self.model_path,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stop": self.stop,
            "seed": self.seed,
            "n_ctx": self.n_ctx,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider=PROVIDER,
            ls_model_name=kwargs.get("model") or self.model_name,
            ls_model_type="chat",
            ls_temperature=kwargs.get("temperature", self.temperature),
        )
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        if stop := stop or self.stop:
            params["ls_stop"] = stop
        return params

    @property
    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            model_path=str(Path(self.model_path).expanduser().resolve()),
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            n_parallel=self.n_parallel,
            n_batch=self.n_batch,
            cache_ram_mib=self.cache_ram_mib,
        )

    def load(self) -> ChatLlamaCpp:
        """Load the model now (instead of on the first call); raises :class:`BackendError`."""
        get_engine(self.engine_config)
        return self

    # --- requests -----------------------------------------------------------------

    def _body(self, messages: Sequence[BaseMessage], stop: list[str] | None, **kwargs: Any) -> dict[str, Any]:
        kwargs.pop("model", None)  # one model per engine: a per-call name cannot switch it
        kwargs.pop("stream", None)
        body: dict[str, Any] = {
            "messages": to_openai_messages(messages),
            "temperature": self.temperature,
            "cache_prompt": self.cache_prompt,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.seed is not None:
            body["seed"] = self.seed
        if stop := stop if stop is not None else self.stop:
            body["stop"] = list(stop)
        body.update(kwargs)
        return body

    def _run(
        self,
        body: dict[str, Any],
        on_text: Callable[[str], None],
        state: _StreamState,
        cancel: threading.Event | None = None,
    ) -> None:
        """Run one streamed request on this thread, calling ``on_text`` per piece of text."""
        engine = get_engine(self.engine_config)
        deadline = time.monotonic() + self.timeout if self.timeout else None
        failure: list[BaseException] = []
        timed_out = False

        # Runs on this thread under the GIL; xllamacpp swallows exceptions raised here,
        # so it records them and returns True, which stops the generation.
        def callback(chunk: Any) -> bool:
            nonlocal timed_out
            try:
                if not isinstance(chunk, Mapping):
                    raise BackendError(f"llama.cpp sent an unexpected chunk: {chunk!r:.200}")
                _raise_for_error(chunk)
                text = state.take(chunk)
                if text:
                    on_text(text)
            except BaseException as exc:  # noqa: BLE001 - re-raised below, on the caller's side
                failure.append(exc)
                return True
            if deadline is not None and time.monotonic() > deadline:
                timed_out = True
                return True
            return bool(cancel is not None and cancel.is_set())

        engine.handle_chat_completions(body, callback)
        if failure:
            raise failure[0]
        if timed_out:
            raise BackendError(
                f"The local model did not finish within {self.timeout:g} s: raise the timeout or lower max_tokens"
            )

    def _metadata(self, state: _StreamState) -> dict[str, Any]:
        metadata: dict[str, Any] = {"model_name": self.model_name, "model_provider": PROVIDER}
        if state.finish_reason:
            metadata["finish_reason"] = state.finish_reason
        if state.timings:
            metadata["timings"] = dict(state.timings)
        if state.logprobs:
            metadata["logprobs"] = {"content": state.logprobs}
        return metadata

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # Streamed internally so that the timeout can stop a long generation.
        state = _StreamState()
        pieces: list[str] = []
        self._run(self._body(messages, stop, **kwargs), pieces.append, state)
        metadata = self._metadata(state)
        message = AIMessage(content="".join(pieces), usage_metadata=_usage(state.usage), response_metadata=metadata)
        info = {"finish_reason": state.finish_reason} if state.finish_reason else None
        return ChatResult(
            generations=[ChatGeneration(message=message, generation_info=info)],
            llm_output={"model_name": self.model_name, "timings": metadata.get("timings")},
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        body = self._body(messages, stop, **kwargs)
        state = _StreamState()
        items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        cancel = threading.Event()

        # llama.cpp calls back on the thread that made the request, so the request
        # runs on a worker thread and the tokens cross over through a queue.
        def work() -> None:
            try:
                self._run(body, items.put, state, cancel)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                items.put(exc)
            finally:
                items.put(_DONE)

        worker = threading.Thread(target=work, name="llamacpp-stream", daemon=True)
        worker.start()
        try:
            while (item := items.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=item))
                if run_manager:
                    run_manager.on_llm_new_token(item, chunk=chunk)
                yield chunk
        finally:
            cancel.set()  # the consumer stopped early: end the generation at the next token
            worker.join()
        info = {"finish_reason": state.finish_reason} if state.finish_reason else None
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=_usage(state.usage),
                response_metadata=self._metadata(state),
                chunk_position="last",
            ),
            generation_info=info,
        )

    # --- judging --------------------------------------------------------------------

    def _scored_reply(self, messages: LanguageModelInput, **kwargs: Any) -> dict[str, Any]:
        """One greedy, non-streamed reply with its tokens' log-probabilities (no stop strings): the judges' call."""
        body = self._body(self._convert_input(messages).to_messages(), None, temperature=0.0, logprobs=True, **kwargs)
        body["stream"] = False
        body.pop("stream_options", None)
        body.pop("stop", None)
        result = get_engine(self.engine_config).handle_chat_completions(body)
        _raise_for_error(result)
        return result

    def choice_probabilities(
        self,
        messages: LanguageModelInput,
        choices: Sequence[str] = ("Yes", "No"),
        *,
        top_n: int = 20,
    ) -> dict[str, float]:
        """Probability of each choice being the answer's first token, normalised over ``choices``.

        Reads the model's distribution for one generated token instead of parsing
        free text, so an LLM judge gets a graded, deterministic score.
        """
        result = self._scored_reply(messages, max_tokens=1, top_logprobs=top_n)
        try:
            first = result["choices"][0]["logprobs"]["content"][0]
            top = [(entry["token"], float(entry["logprob"])) for entry in first["top_logprobs"]]
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError("llama.cpp returned no logprobs for the first token") from exc
        return score_choices(top, choices)

    def text_logprob(self, messages: LanguageModelInput, text: str) -> float:
        """The log-probability of ``text`` as the reply to ``messages``, summed over its tokens.

        Teacher-forced: a grammar admits only the text's own tokens (as the model's tokenizer splits it), and
        llama.cpp reports each token's probability from the model's distribution before the grammar, so two
        texts' scores compare how likely the model finds each after the same prompt. Costs one generated token
        per token of ``text``.
        """
        from rag.llm.tokenizer import token_ids

        ids = token_ids(self.engine_config.model_path, text)
        if not ids:
            return 0.0
        grammar = "root ::= " + " ".join(f"<[{token}]>" for token in ids)
        result = self._scored_reply(messages, max_tokens=len(ids), top_logprobs=1, grammar=grammar)
        try:
            tokens = result["choices"][0]["logprobs"]["content"][: len(ids)]  # not the end token after them
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError("llama.cpp returned no logprobs for the forced text") from exc
        if len(tokens) < len(ids):
            raise BackendError(f"llama.cpp forced {len(tokens)} of the text's {len(ids)} tokens")
        return sum(float(entry["logprob"]) for entry in tokens)
