"""The app's server-side state and handlers, shared by every browser session.

:class:`RagApp` is the UI's face of the server's :class:`~rag.server.service.NewsService`
(one chain per backend and top-k, the index lock, uploads and removals): the
handlers the layout wires to its buttons (answer, streaming, with the session's
filters; upload, remove, status, examples, publishers), and HTML for what they report.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr  # rag/__init__ (imported first, as our package) already set GRADIO_ANALYTICS_ENABLED=False

from rag.answer.chain import RagChain
from rag.errors import QuestionError, RagError
from rag.index.build import IndexReport
from rag.index.catalog import Catalog
from rag.index.handle import Index
from rag.server.service import BACKENDS, ArticleNotFoundError, NewsService
from rag.server.uploads import UploadOutcome, too_large
from rag.settings import Settings
from rag.text import replace_surrogates
from rag.types import Answer, Article, EvidenceEvent, Filters, TokenEvent
from rag.web import render

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SEED_QUESTIONS = (
    "Why won't Starmer leave the ECHR?",
    "Who wrote the op-ed with Starmer?",
    "What did Amnesty International UK say?",
)
MAX_EXAMPLES = 5
HISTORY_TURNS = 6  # previous turns passed to the chain
STREAM_UPDATE_S = 0.08  # at most ~12 chat updates a second while tokens stream


MAX_HISTORY_JSON_CHARS = 200_000  # about 100 turns of long answers


def api_arguments(history_json: object, backend: object, top_k: object) -> tuple[list[Any], str | None, int | None]:
    """The /ask API's optional arguments, checked: (history, backend or None, top_k or None).

    Raises QuestionError saying what is wrong, for anything a client can send: history as JSON text or an
    array, too long or nested too deep; top_k as a number or numeric text, 0 or empty for the default.
    """
    history = _json_argument("history_json", history_json, MAX_HISTORY_JSON_CHARS, "send fewer or shorter turns")
    if history is None:
        history = []
    if not isinstance(history, list):
        raise QuestionError("history_json must be a JSON list of [user, assistant] pairs.")
    if backend is not None and not isinstance(backend, str):
        raise QuestionError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}.")
    return history, backend or None, _top_k(top_k)


MAX_FILTERS_JSON_CHARS = 100_000  # a few thousand article ids


def api_filters(filters_json: object) -> Filters | None:
    """The /ask API's ``filters_json`` argument, checked: None for "", "{}" or null; else the filters of a JSON
    object such as {"publisher": "Sky News", "since": "2025-05-01"}. Raises QuestionError (FilterError) saying
    what is wrong."""
    value = _json_argument("filters_json", filters_json, MAX_FILTERS_JSON_CHARS, "send fewer article ids")
    if value is not None and not isinstance(value, dict):
        raise QuestionError('filters_json must be a JSON object such as {"publisher": "Sky News", '
                            '"since": "2025-05-01"}.')
    return Filters.parse(value)


def _json_argument(name: str, value: object, max_chars: int, advice: str) -> object:
    """A JSON argument of /ask: None for "" or None, JSON text parsed (within max_chars), anything else as sent
    (a client that sent the array or object itself). Raises QuestionError naming the argument."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return value
    if len(value) > max_chars:
        raise QuestionError(f"{name} is {len(value):,} characters; the limit is {max_chars:,}: {advice}.")
    try:
        return json.loads(value)
    except (json.JSONDecodeError, RecursionError) as exc:
        why = "nested too deep" if isinstance(exc, RecursionError) else str(exc)
        raise QuestionError(f"{name} is not valid JSON ({why}).") from None


# How the chat's filter row names the fields in an error.
_FILTER_LABELS = {"publisher": "Publishers", "since": "Since", "until": "Until"}


def _top_k(value: object) -> int | None:
    if value is None or value == "" or value == 0:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number != int(number) or not 1 <= number <= 50:
        raise QuestionError(f"top_k must be a whole number from 1 to 50 (0 for the default), not {str(value)[:40]!r}.")
    return int(number)


class RagApp:
    """The UI's handlers over the server's shared :class:`NewsService` (chains, index lock, uploads)."""

    def __init__(self, settings: Settings, service: NewsService | None = None) -> None:
        self.settings = settings
        self.service = service or NewsService(settings)

    def chain(self, backend: str | None = None, top_k: int | None = None) -> RagChain:
        return self.service.chain(backend, top_k)

    def warm_up(self) -> None:
        self.service.warm_up()

    # --- catalog -----------------------------------------------------------------
    def catalog(self) -> Catalog:
        return self.service.catalog()

    def articles_for(self, ids: set[str]) -> dict[str, Article | None]:
        try:
            catalog = self.catalog()
            return {aid: catalog.get_article(aid) for aid in ids}
        except RagError:
            return {}

    def status_html(self) -> str:
        try:
            return render.status_html(Index.open(self.settings).status())
        except RagError as exc:
            return render.status_html(None, str(exc))
        except Exception as exc:
            log.exception("status failed")
            return render.status_html(None, f"unavailable ({type(exc).__name__})")

    def publisher_choices(self) -> list[tuple[str, str]]:
        """The filter row's choices: ("Sky News (12)", "Sky News"), most articles first."""
        try:
            return [(f"{name} ({count})", name) for name, count in Index.open(self.settings).facets().publishers]
        except RagError:
            return []

    def article_rows(self) -> list[dict[str, object]]:
        try:
            return self.catalog().list_articles()
        except RagError:
            return []

    def examples(self) -> list[str]:
        """Seed questions when the seeds are indexed; 'What is <title> about?' for other articles."""
        try:
            catalog = self.catalog()
            manifest = catalog.manifest()
            rows = catalog.list_articles()
        except RagError:
            return []
        hashes = {h for _, h in manifest.values()}
        seeds = sorted((REPO / "seeds").glob("*.txt"))
        seed_hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in seeds}
        questions: list[str] = []
        if seed_hashes and seed_hashes <= hashes:
            questions += SEED_QUESTIONS
        others = [r for r in rows if manifest.get(str(r["source"]), ("", ""))[1] not in seed_hashes]
        others.sort(key=lambda r: float(str(r.get("indexed_at") or 0)), reverse=True)
        for row in others:
            if len(questions) >= MAX_EXAMPLES:
                break
            title = " ".join(str(row["title"]).split()).rstrip("…. ")
            if title:
                questions.append(f"What is “{title}” about?")
        return questions

    # --- indexing ---------------------------------------------------------------------
    def upload(
        self, files: Sequence[str | Path] | None, on_progress: Callable[[int, int], None] | None = None
    ) -> tuple[str, list[UploadOutcome], IndexReport | None]:
        """Save uploaded files (Gradio's temporary copies) into the corpus, re-index: (report html, outcomes, report)."""
        unread: list[UploadOutcome] = []
        readable: list[tuple[str, bytes]] = []
        limit = self.settings.max_upload_bytes
        for file in files or []:
            path = Path(getattr(file, "name", file))
            name = getattr(file, "orig_name", None) or path.name
            try:
                size = path.stat().st_size
                if size > limit:  # refused before it is read into memory
                    unread.append(too_large(name, size, limit))
                    continue
                readable.append((name, path.read_bytes()))
            except OSError as exc:
                unread.append(UploadOutcome(name, None, f"cannot read the upload: {exc.strerror or exc}"))
        if not readable:
            error = None if unread else "No files received."
            return render.index_report_html(unread, error=error), unread, None
        change = self.service.add_articles(readable, on_progress=on_progress)
        outcomes = unread + change.outcomes
        return self._report_html(outcomes, change.report, change.error), outcomes, change.report

    def remove(self, article_id: str | None) -> str:
        if not article_id:
            return render.index_report_html(error="Choose an article to remove.")
        try:
            change = self.service.remove_article(article_id)
        except ArticleNotFoundError:
            return render.index_report_html(error="That article is no longer in the index.")
        except RagError as exc:
            return render.index_report_html(error=str(exc))
        return self._report_html([], change.report, change.error)

    @staticmethod
    def _report_html(outcomes: list[UploadOutcome], report: IndexReport | None, error: str | None) -> str:
        if report is None:
            return render.index_report_html(outcomes, error=error)
        return render.index_report_html(
            outcomes, report.added, report.updated, report.removed,
            [(p.source, p.reason) for p in report.problems], report.summary(), error,
        )

    # --- answering ----------------------------------------------------------------------
    def ask(self, question: str, history: Sequence[tuple[str, str]] = (), backend: str | None = None,
            top_k: int | None = None, filters: Filters | None = None) -> Answer:
        return self.chain(backend, top_k).invoke({"question": question, "chat_history": list(history),
                                                  "filters": filters})

    def respond(
        self, message: str, chat: list[dict[str, Any]] | None, views: list[render.TurnView] | None,
        backend: str | None = None, top_k: float | None = None, publishers: Sequence[str] | str | None = None,
        since: str | None = None, until: str | None = None,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """The chat handler: yields (chat messages, sources panel, turn views, textbox) as the answer streams.

        ``publishers``, ``since`` and ``until`` are the filter row's values (none set: every article)."""
        # Lone surrogates (invalid unicode a browser can send) would break the JSON of every update of the chat.
        question = replace_surrogates(message or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        views = list(views or [])
        history = _history_from_views(views)
        turn = len(views)
        chat = list(chat or []) + [
            {"role": "user", "content": render.user_html(question)},
            {"role": "assistant", "content": render.pending_html()},
        ]
        view = render.TurnView(turn, question)
        yield chat, self.panel(views + [view]), views, ""
        raw = ""
        last = 0.0
        answer: Answer | None = None
        try:
            filters = Filters.parse({"publisher": publishers or None, "since": since, "until": until},
                                    labels=_FILTER_LABELS)
            request = {"question": question, "chat_history": history, "filters": filters}
            for event in self.chain(backend, int(top_k or 0)).stream(request):
                if isinstance(event, EvidenceEvent):
                    view = render.TurnView(turn, question, event.passages)
                    summary = render.evidence_summary(event.passages)
                    chat[-1] = {"role": "assistant", "content": render.pending_html(status=summary)}
                    yield chat, self.panel(views + [view]), gr.skip(), gr.skip()
                elif isinstance(event, TokenEvent):
                    raw += event.text
                    if time.monotonic() - last >= STREAM_UPDATE_S:
                        last = time.monotonic()
                        chat[-1] = {"role": "assistant",
                                    "content": render.pending_html(raw, "Writing… citations are checked at the end")}
                        yield chat, gr.skip(), gr.skip(), gr.skip()
                elif isinstance(event, Answer):
                    answer = event
            if answer is None:
                raise RuntimeError("the chain ended without an answer")
        except Exception as exc:
            if not isinstance(exc, RagError):
                log.error("answering failed:\n%s", traceback.format_exc())
            text = friendly_error(exc)
            chat[-1] = {"role": "assistant", "content": render.error_html(text)}
            views.append(render.TurnView(turn, question, view.passages, error=text))
            yield chat, self.panel(views), views, gr.skip()
            return
        if answer.notice:
            gr.Warning(answer.notice)
        chat[-1] = {"role": "assistant", "content": render.answer_html(answer, turn)}
        views.append(render.TurnView(turn, question, answer.passages, answer))
        yield chat, self.panel(views), views, gr.skip()

    def panel(self, views: list[render.TurnView]) -> str:
        ids: set[str] = set()
        for view in views[-5:]:
            ids |= render.article_ids_for(view)
        return render.sources_html(views, self.articles_for(ids))


def friendly_error(exc: BaseException) -> str:
    if isinstance(exc, RagError):
        return str(exc)
    return f"Sorry, something went wrong while answering ({type(exc).__name__}). Please try again."


def _history_from_views(views: Sequence[render.TurnView]) -> list[tuple[str, str]]:
    return [(v.question, v.answer.answer) for v in views if v.answer is not None][-HISTORY_TURNS:]
