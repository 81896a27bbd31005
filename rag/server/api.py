"""The HTTP API: OpenAI-compatible chat completions, search and the articles, under /v1.

``build_api(settings, service)`` returns the FastAPI app; ``./run app`` mounts the
Gradio chat on it at ``/`` (one port, one process, one :class:`NewsService`), and
``rag serve`` serves it alone. Every error of a /v1 route, a framework's own
included (bad JSON, a wrong type, an unknown route), is answered in OpenAI's
shape ``{"error": {"message", "type", "param", "code"}}``, never as a bare 500.
"""

from __future__ import annotations

import hmac
import importlib.metadata
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import swagger_ui
from fastapi import APIRouter, Depends, FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException

from rag.answer.chain import clean_question
from rag.errors import FilterError, RagError
from rag.server import chat
from rag.server.admission import Admission, Busy
from rag.server.guard import BodyLimit, guards
from rag.server.service import ArticleNotFoundError, NewsService
from rag.server.wire import (
    ApiError,
    ArticleDetail,
    ArticleList,
    ArticleSummary,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    DeleteResult,
    ErrorResponse,
    ModelCard,
    ModelList,
    SearchRequest,
    SearchResult,
    UploadResult,
)
from rag.settings import Settings
from rag.types import Answer, Filters, publisher_key

log = logging.getLogger(__name__)

MAX_LIST = 1000
MAX_WAITING = 100  # API questions waiting for an answer slot; more get 503 (the chat queue holds as many)
DOCS_ASSETS = "/docs-assets"
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": what}
    for code, what in ((400, "Bad request"), (401, "Missing or wrong API key"), (404, "Not found"),
                       (413, "Request too large"), (503, "No usable index"))
}


def api_keys(settings: Settings) -> list[str]:
    secret = settings.api_keys.get_secret_value() if settings.api_keys else ""
    return [key.strip() for key in secret.split(",") if key.strip()]


def build_api(settings: Settings, service: NewsService | None = None) -> FastAPI:
    """The FastAPI app with the /v1 routes (and /docs, /health) over one NewsService."""
    service = service or NewsService(settings)
    keys = api_keys(settings)
    started = int(time.time())
    admission = Admission(settings.concurrency_limit, MAX_WAITING)
    app = FastAPI(
        title="newsrag API",
        version=_version(),
        description="Grounded answers from the indexed news articles: every claim cites the exact passage it "
        "rests on, or the answer is a plain refusal. `POST /v1/chat/completions` speaks OpenAI's protocol; "
        "citations, passages and `refused` are extension fields of the message (and of the last streamed chunk).",
        docs_url=None,  # served below from the packaged Swagger UI: the stock page loads it from a CDN
        redoc_url=None,
        middleware=guards(settings),
    )
    if settings.cors_origins:
        origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(BodyLimit, prefix="/v1", limit=settings.max_request_bytes,
                       uploads={"/v1/articles": settings.max_upload_bytes + 64_000})

    def authorize(request: Request) -> None:
        if keys:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ApiError(401, "You didn't provide an API key. You need to provide your API key in an "
                               "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                               code="invalid_api_key")
            if not any(hmac.compare_digest(token.strip().encode(), key.encode()) for key in keys):
                raise ApiError(401, f"Incorrect API key provided: {_masked(token.strip())}.", code="invalid_api_key")
        elif settings.auth:  # the app asks for a login: an open API beside it would bypass it
            raise ApiError(401, "The API is closed because the app requires a login (RAG_AUTH) and no API keys "
                           "are set: set RAG_API_KEYS and send Authorization: Bearer <key>.", code="invalid_api_key")

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(authorize)], responses=_ERRORS)

    @v1.get("/models", response_model=ModelList, summary="The models: newsrag and one per backend")
    def list_models() -> ModelList:
        return ModelList(data=chat.models(settings, started))

    @v1.get("/models/{model}", response_model=ModelCard, summary="One model")
    def get_model(model: str) -> ModelCard:
        chat.backend_of(model)
        return next(card for card in chat.models(settings, started) if card.id == model)

    @v1.post(
        "/chat/completions",
        response_model=ChatCompletion,
        summary="A grounded answer to the conversation's last question (OpenAI-compatible; stream: SSE)",
        responses={200: {"content": {"text/event-stream": {"schema": ChatCompletionChunk.model_json_schema()}},
                         "description": "A chat.completion, or with stream=true a stream of chat.completion.chunk"}},
    )
    async def chat_completions(body: ChatCompletionRequest) -> Any:
        backend = chat.backend_of(body.model)
        chat.check_supported(body)
        question, history = chat.conversation(body)
        chain = service.chain(backend, body.top_k)
        count = service.count_tokens

        def start() -> tuple[Any, Iterator[Any]]:
            events = chain.stream({"question": question, "chat_history": history, "filters": body.filters})
            try:  # the question and filters are checked, retrieval done, before the 200 is sent
                return next(events), events
            except Exception as exc:
                raise ApiError.from_exception(exc, param="filters" if isinstance(exc, FilterError) else "messages") \
                    from exc

        try:
            await admission.acquire()
        except Busy as exc:
            raise ApiError(503, str(exc), code="server_busy") from exc
        if not body.stream:
            try:
                first, events = await run_in_threadpool(start)
                answer = first if _is_answer(first) else await run_in_threadpool(_last, events)
            finally:
                admission.release()
            return chat.completion(body, answer, count)
        released = False

        def release_once() -> None:  # the stream's end, or the response's background task after a disconnect
            nonlocal released
            if not released:
                released = True
                admission.release()

        try:
            first, events = await run_in_threadpool(start)
        except BaseException:
            release_once()
            raise

        async def streamed() -> AsyncIterator[str]:
            try:
                async for line in iterate_in_threadpool(chat.sse_stream(body, _chain(first, events), count)):
                    yield line
            finally:
                release_once()

        return StreamingResponse(streamed(), media_type="text/event-stream", background=BackgroundTask(release_once),
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @v1.post("/search", response_model=SearchResult, summary="Retrieval only: the best passages with scores and offsets")
    def search(body: SearchRequest) -> SearchResult:
        try:
            filters = Filters.parse(body.filters)
        except FilterError as exc:
            raise ApiError.from_exception(exc, param="filters") from exc
        try:
            query = clean_question(body.query, settings.max_question_chars)
        except RagError as exc:
            raise ApiError.from_exception(exc, param="query") from exc
        retrieval = service.search().retrieve(query, body.k or settings.top_k, filters)
        note = retrieval.no_match_reason() if filters and not retrieval.passages else retrieval.filter_note()
        return SearchResult(query=query, data=list(retrieval.passages), filter_note=note)

    @v1.get("/articles", response_model=ArticleList, summary="The indexed articles, by source file")
    def list_articles(
        publisher: Annotated[str | None, Query(description="Only this publisher's (case-insensitive).")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> ArticleList:
        rows = service.catalog().list_articles()
        if publisher:
            rows = [r for r in rows if publisher_key(str(r["publisher"] or "")) == publisher_key(publisher)]
        return ArticleList(data=[ArticleSummary.model_validate(r) for r in rows[offset : offset + limit]],
                           total=len(rows))

    @v1.get("/articles/{article_id}", response_model=ArticleDetail, summary="One article: cleaned text and metadata")
    def get_article(article_id: str) -> ArticleDetail:
        try:
            article = service.article(article_id)
        except ArticleNotFoundError as exc:
            raise ApiError(404, str(exc), param="article_id", code="article_not_found") from exc
        return ArticleDetail.model_validate(article.model_dump())

    @v1.post("/articles", response_model=UploadResult, status_code=201,
             summary="Add an article (.txt, .md, .html): saved into the corpus folder and indexed")
    async def add_article(file: Annotated[UploadFile, File(description="The article file.")]) -> UploadResult:
        data = await file.read()
        name = file.filename or ""
        change = await run_in_threadpool(service.add_articles, [(name, data)])
        outcome = change.outcomes[0]
        if change.error:
            raise ApiError(503, change.error, code="indexing_failed")
        if outcome.saved_as is None:
            duplicate = outcome.message.startswith("the same text is already indexed")
            raise ApiError(409 if duplicate else 400, f"{outcome.name}: {outcome.message}.", param="file",
                           code="duplicate_article" if duplicate else "upload_rejected")
        rows = [r for r in service.catalog().list_articles() if r["source"] == outcome.saved_as]
        return UploadResult(name=outcome.name, saved_as=outcome.saved_as, message=outcome.message,
                            articles=[ArticleSummary.model_validate(r) for r in rows])

    @v1.delete("/articles/{article_id}", response_model=DeleteResult,
               summary="Remove an article: its file is deleted from the corpus folder and the index updated")
    def delete_article(article_id: str) -> DeleteResult:
        try:
            change = service.remove_article(article_id)
        except ArticleNotFoundError as exc:
            raise ApiError(404, str(exc), param="article_id", code="article_not_found") from exc
        if change.error:
            raise ApiError(503, change.error, code="indexing_failed")
        return DeleteResult(id=article_id)

    @v1.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def unknown_route(rest: str, request: Request) -> None:
        allowed = sorted({method for route in v1.routes if isinstance(route, APIRoute)
                          and route.path != "/v1/{rest:path}" and route.path_regex.match(request.url.path)
                          for method in route.methods})
        if allowed:
            raise ApiError(405, f"{request.method} is not allowed on /v1/{rest}: use {', '.join(allowed)}.",
                           code="method_not_allowed")
        raise ApiError(404, f"Unknown route {request.method} /v1/{rest}: see /docs.", code="unknown_url")

    @app.get("/health", summary="Liveness and index size (no key needed)")
    def health() -> dict[str, Any]:
        try:
            articles, passages = service.catalog().counts()
        except RagError as exc:
            return {"status": "no index", "detail": str(exc)}
        return {"status": "ok", "articles": articles, "passages": passages}

    app.mount(DOCS_ASSETS, StaticFiles(directory=Path(swagger_ui.__file__).parent / "static"), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="newsrag API", swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css", swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    app.include_router(v1)
    _handle_errors(app)
    return app


def _handle_errors(app: FastAPI) -> None:
    """Every error of a /v1 route in OpenAI's shape; others (the mounted UI's) as the framework answers them."""

    def reply(error: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return JSONResponse(error.response().model_dump(), status_code=error.status, headers=headers)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        if exc.status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc.message)
        return reply(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return reply(_validation_error(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return reply(ApiError(exc.status_code, str(exc.detail), code=_STATUS_CODES.get(exc.status_code)))

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        return reply(ApiError.from_exception(exc))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return reply(ApiError.from_exception(exc))


_STATUS_CODES = {405: "method_not_allowed", 404: "unknown_url", 413: "request_too_large"}


def _validation_error(exc: RequestValidationError) -> ApiError:
    """The first problem of a request FastAPI could not read, in OpenAI's words where it has them."""
    first = exc.errors()[0] if exc.errors() else {}
    kind, msg = str(first.get("type", "")), str(first.get("msg", "invalid"))
    loc = [str(part) for part in first.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path", "header"):  # where it was sent: not part of the name
        loc = loc[1:]
    param = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc).lstrip(".") or None
    if kind == "json_invalid":
        return ApiError(400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                        "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent "
                        "was not valid JSON.)")
    if kind == "extra_forbidden":
        return ApiError(400, f"Unrecognized request argument supplied: {loc[-1] if loc else '?'}", param=param)
    if kind == "missing":
        if param in ("file", None) and "file" in loc:
            return ApiError(400, "Send the article as a multipart form field named file.", param="file")
        return ApiError(400, f"Missing required parameter: '{param}'.", param=param)
    if kind in ("model_attributes_type", "dict_type") and not loc:
        return ApiError(400, "The request body must be a JSON object.")
    return ApiError(400, f"Invalid value for '{param}': {msg}.", param=param)


def _masked(token: str) -> str:
    return f"{token[:3]}…{token[-4:]}" if len(token) > 10 else "***"


def _is_answer(event: object) -> bool:
    return isinstance(event, Answer)


def _version() -> str:
    try:
        return importlib.metadata.version("newsrag")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _last(events: Iterator[Any]) -> Any:
    answer = None
    for event in events:
        answer = event
    return answer


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
