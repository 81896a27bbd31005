"""The JSON records of the HTTP API: OpenAI's chat-completion shapes with newsrag's extension fields, and ours.

Requests forbid unknown fields, as OpenAI does ("Unrecognized request argument
supplied"); the parameters OpenAI clients commonly send are accepted, and the
ones that cannot apply to a grounded answer (sampling, token limits) are
ignored. Extension fields are documented on each record and appear in /docs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.errors import QuestionError, RagError
from rag.types import Article, Citation, RetrievedPassage

# --- requests --------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContentPart(BaseModel):
    """One part of a message's content; only text parts can be answered."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    """A message of the conversation. system and developer messages are ignored: the assistant's instructions are
    fixed (answer only from the articles), and a client's cannot widen them."""

    model_config = ConfigDict(extra="allow")  # name, tool_calls, ... of a client's own history
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(_Request):
    """``POST /v1/chat/completions``. The whole ``messages`` list is the conversation; the last message is the
    question (it must come from the user), the user/assistant pairs before it are the history that follow-up
    questions are read with."""

    model: str = Field(description="newsrag (the server's default backend), or newsrag-local, newsrag-openai, "
                       "newsrag-extractive to choose one (GET /v1/models).")
    messages: list[ChatMessage]
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(1, description="Only 1.")
    # Accepted and ignored: the answer is quoted or verified text, not a sample.
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    parallel_tool_calls: bool | None = None
    service_tier: str | None = None
    reasoning_effort: str | None = None
    verbosity: str | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    # Accepted only when they ask for nothing newsrag cannot do.
    logprobs: bool | None = Field(None, description="Only false.")
    top_logprobs: int | None = Field(None, description="Only 0.")
    response_format: dict[str, Any] | None = Field(None, description='Only {"type": "text"}.')
    tools: list[dict[str, Any]] | None = Field(None, description="Not supported (only an empty list).")
    tool_choice: str | dict[str, Any] | None = Field(None, description='Only "none".')
    functions: list[dict[str, Any]] | None = Field(None, description="Not supported (only an empty list).")
    function_call: str | dict[str, Any] | None = Field(None, description='Only "none".')
    modalities: list[str] | None = Field(None, description='Only ["text"].')
    audio: dict[str, Any] | None = Field(None, description="Not supported.")
    # newsrag's extensions (the openai SDK sends them with extra_body={...}).
    filters: dict[str, Any] | None = Field(
        None, description="newsrag extension: retrieve only from matching articles, e.g. "
        '{"publisher": ["Sky News"], "since": "2025-01-01", "until": "2025-12-31", "article_ids": ["…"]}.',
    )
    top_k: int | None = Field(None, ge=1, le=50, description="newsrag extension: passages to retrieve.")


class SearchRequest(_Request):
    """``POST /v1/search``: retrieval only, no answer."""

    query: str = Field(description="What to search for (a question or keywords).")
    k: int | None = Field(None, ge=1, le=50, description="Passages to return (default: RAG_TOP_K).")
    filters: dict[str, Any] | None = Field(None, description="As in chat completions.")


# --- responses -------------------------------------------------------------------------------


class Usage(BaseModel):
    """Sub-word tokens (the embedding model's tokenizer) of the messages read and of the answer."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Grounding(BaseModel):
    """newsrag's extension fields, on the assistant message and on the final streamed chunk's delta."""

    refused: bool = Field(False, description="True when the articles do not state an answer; content says so.")
    refusal_reason: str | None = Field(None, description="Why it refused, for logs and debugging.")
    citations: list[Citation] = Field(
        default_factory=list, description="One per [n] marker of content: the exact span of the article it quotes."
    )
    passages: list[RetrievedPassage] = Field(default_factory=list, description="The passages retrieved, best first.")
    notice: str | None = Field(None, description="E.g. that the LLM was unreachable and the answer is quoted instead.")
    filter_note: str | None = Field(None, description="With filters: how many articles matched and were excluded.")
    standalone_question: str | None = Field(None, description="The question as searched (a follow-up rewritten "
                                            "with the conversation).")
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds the answer took, by stage "
                                      "(retrieval, evidence, gate, check, total: since the question).")


class AssistantMessage(Grounding):
    role: Literal["assistant"] = "assistant"
    content: str = Field(description="The verified answer with [n] markers, or the refusal.")
    refusal: None = Field(None, description="Always null: a refusal to answer is ordinary content, see refused.")


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None


class Delta(Grounding):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed completion. The grounding fields come on the last chunk with content
    (finish_reason "stop"); with stream_options.include_usage a final chunk with no choices carries usage."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "newsrag"
    description: str = ""


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class SearchResult(BaseModel):
    object: Literal["list"] = "list"
    query: str
    data: list[RetrievedPassage]
    filter_note: str | None = None


class ArticleSummary(BaseModel):
    id: str
    source: str
    title: str
    publisher: str | None = None
    date: str | None = None
    passages: int
    indexed_at: float | None = None


class ArticleList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ArticleSummary]
    total: int = Field(description="Articles matching, before limit and offset.")


class ArticleDetail(Article):
    """One indexed article: its cleaned text (every passage and citation offset refers to it) and metadata."""

    object: Literal["article"] = "article"


class UploadResult(BaseModel):
    object: Literal["article.upload"] = "article.upload"
    name: str = Field(description="The uploaded file's name.")
    saved_as: str = Field(description="Its file name in the corpus folder (made safe, never overwriting another).")
    articles: list[ArticleSummary] = Field(description="The indexed article made from it.")
    message: str = ""


class DeleteResult(BaseModel):
    id: str
    object: Literal["article.deleted"] = "article.deleted"
    deleted: bool = True


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error shape, for every error of every /v1 route."""

    error: ErrorDetail


class ApiError(Exception):
    """An error answered in OpenAI's shape with an HTTP status."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 kind: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.kind = kind or ("invalid_request_error" if status < 500 else "server_error")

    def response(self) -> ErrorResponse:
        return ErrorResponse(error=ErrorDetail(message=self.message, type=self.kind, param=self.param, code=self.code))

    @classmethod
    def from_exception(cls, exc: BaseException, param: str | None = None) -> ApiError:
        """A library error as the client's mistake (400) or the server's state (503); anything else as a 500."""
        if isinstance(exc, ApiError):
            return exc
        if isinstance(exc, QuestionError):
            return cls(400, str(exc), param=param)
        if isinstance(exc, RagError):  # no index yet, a damaged index, a full disk: the server's state, not a bug
            return cls(503, str(exc), code="unavailable")
        return cls(500, f"The server failed while answering ({type(exc).__name__}); the error is logged.",
                   code="internal_error")
