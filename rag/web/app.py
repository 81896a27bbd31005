"""The Gradio chat app: ``build_app(settings)`` and ``launch(settings)``.

Chat tab: a streaming chatbot whose citation links select the cited passage in
the sources panel beside it. Articles tab: upload articles (saved into the corpus
folder under a safe name, then indexed incrementally) and remove them. A named
API endpoint ``/ask`` returns ``Answer.model_dump(mode="json")``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
import unicodedata
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, get_args

import gradio as gr  # rag/__init__ (imported first, as our package) already set GRADIO_ANALYTICS_ENABLED=False

from rag.answer.chain import RagChain, build_chain
from rag.errors import QuestionError, RagError
from rag.index.catalog import Catalog
from rag.index.handle import Index
from rag.ingest.scan import SUPPORTED_SUFFIXES
from rag.logs import configure_logging
from rag.settings import Backend, Settings
from rag.text import replace_surrogates
from rag.types import Answer, Article, EvidenceEvent, TokenEvent
from rag.web import render

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SEED_QUESTIONS = (
    "Why won't Starmer leave the ECHR?",
    "Who wrote the op-ed with Starmer?",
    "What did Amnesty International UK say?",
)
BACKENDS: tuple[str, ...] = get_args(Backend)
MAX_EXAMPLES = 5
HISTORY_TURNS = 6  # previous turns passed to the chain
MAX_NAME_CHARS = 100
STREAM_UPDATE_S = 0.08  # at most ~12 chat updates a second while tokens stream

THEME = gr.themes.Default(
    primary_hue="blue",
    neutral_hue="slate",
    font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)

CSS = """
.gradio-container { max-width: 1400px !important; margin: 0 auto; }
#rag-header { align-items: baseline; gap: 12px; }
#rag-header h1 { margin: 0; font-size: 1.5rem; }
.rag-subtitle { color: var(--body-text-color-subdued); font-size: 0.9rem; margin-top: 2px; }
.rag-status { color: var(--body-text-color-subdued); font-size: 0.9rem; text-align: right; }
.rag-status-error { color: #b91c1c; }
.rag-question { white-space: normal; }
.rag-answer-text { line-height: 1.55; }
.rag-answer-meta { margin-top: 6px; font-size: 0.78rem; color: var(--body-text-color-subdued); }
a.cite { display: inline-block; padding: 0 4px; margin: 0 1px; border-radius: 5px; font-size: 0.8em;
  font-weight: 600; line-height: 1.35; vertical-align: 0.15em; text-decoration: none !important;
  background: #dbeafe; color: #1d4ed8 !important; border: 1px solid #93c5fd; cursor: pointer; }
a.cite:hover, a.cite:focus { background: #1d4ed8; color: #fff !important; }
.rag-refusal { border-left: 4px solid #d97706; background: #fffbeb; color: #78350f; padding: 10px 12px;
  border-radius: 6px; }
a.cite-near { color: #92400e !important; font-weight: 600; text-decoration: underline; cursor: pointer; }
.rag-refusal-title { font-weight: 700; font-size: 1.02rem; }
.rag-refusal-reason { font-size: 0.82rem; margin: 4px 0 6px; opacity: 0.85; }
.rag-refusal-near { font-size: 0.85rem; font-weight: 600; }
.rag-near-list { margin: 4px 0 0 0; padding-left: 18px; font-size: 0.85rem; }
.rag-snippet { color: #92400e; }
.rag-notice { border-left: 4px solid #2563eb; background: #eff6ff; color: #1e3a8a; padding: 6px 10px;
  border-radius: 6px; margin-bottom: 8px; font-size: 0.88rem; }
.rag-error { border-left: 4px solid #dc2626; background: #fef2f2; color: #7f1d1d; padding: 8px 12px;
  border-radius: 6px; }
.rag-pending-status { font-size: 0.85rem; color: var(--body-text-color-subdued); font-style: italic; }
.rag-stream-text { opacity: 0.8; margin-bottom: 4px; }
#sources-panel { max-height: 720px; overflow-y: auto; scroll-behavior: smooth; padding-right: 4px; }
.rag-panel-title { font-weight: 700; font-size: 1.05rem; margin-bottom: 6px; }
.rag-article-text { position: relative; }
.rag-panel-note { font-size: 0.88rem; color: var(--body-text-color-subdued); margin: 4px 0 10px; }
.rag-refused-note { color: #92400e; }
.rag-searching { font-style: italic; }
.rag-turn-head { position: sticky; top: 0; z-index: 2; background: var(--body-background-fill); padding: 4px 0 2px;
  margin-bottom: 6px; }
.rag-turn-head .rag-panel-note { margin: 2px 0 0; }
.rag-turn-q { font-size: 0.9rem; font-weight: 600; }
.rag-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px; margin: 0 0 10px;
  background: var(--background-fill-primary); transition: box-shadow 0.3s, border-color 0.3s;
  scroll-margin-top: 76px; }
.rag-card.rag-selected { border-color: #2563eb; box-shadow: 0 0 0 3px rgba(37, 99, 235, 0.35);
  animation: rag-flash 1.2s ease-out 1; }
@keyframes rag-flash { 0% { background: #dbeafe; } 100% { background: var(--background-fill-primary); } }
.rag-card-head { display: flex; gap: 8px; align-items: flex-start; }
.rag-badge { display: inline-block; flex-shrink: 0; white-space: nowrap; min-width: 1.9em; text-align: center;
  font-weight: 700; font-size: 0.8rem;
  border-radius: 5px; background: #1d4ed8; color: #fff; padding: 1px 4px; }
.rag-rank { font-size: 0.78rem; color: var(--body-text-color-subdued); min-width: 1.9em; }
.rag-title { font-weight: 600; line-height: 1.3; }
.rag-meta, .rag-relevance, .rag-also, .rag-url { font-size: 0.78rem; color: var(--body-text-color-subdued); }
.rag-file { font-family: var(--font-mono); font-size: 0.75rem; }
.rag-card blockquote.rag-passage { margin: 8px 0 4px; padding: 6px 10px;
  border-left: 3px solid var(--border-color-primary); font-size: 0.9rem; line-height: 1.5;
  color: var(--body-text-color); }
.rag-card mark, .rag-article-text mark { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
.rag-full summary, .rag-rest summary { cursor: pointer; font-size: 0.85rem; color: #1d4ed8; font-weight: 600; }
.rag-rest { margin-top: 6px; }
.rag-rest .rag-card { margin-top: 8px; }
.rag-article-text { max-height: 360px; overflow-y: auto; margin-top: 6px; padding: 8px 10px; font-size: 0.88rem;
  line-height: 1.55; background: var(--background-fill-secondary); border-radius: 6px; }
.rag-table { width: 100%; border-collapse: collapse; font-size: 0.88rem; }
#articles-table table.rag-table th, #articles-table table.rag-table td { text-align: left; padding: 6px 8px;
  border: none !important; border-bottom: 1px solid var(--border-color-primary) !important; vertical-align: top; }
#articles-table table.rag-table, #articles-table .rag-table tr, #articles-table .rag-table thead,
#articles-table .rag-table tbody { border: none !important; }
#articles-table .rag-table th, #articles-table .rag-table td { border-left: none !important;
  border-right: none !important; }
#articles-table table.rag-table th { font-weight: 600; background: var(--background-fill-secondary); }
.rag-num { text-align: right !important; }
.rag-report ul { list-style: none; padding-left: 0; margin: 4px 0; }
.rag-report li { margin: 2px 0; }
.rag-ok { color: #166534; }
.rag-bad { color: #b91c1c; }
.rag-report-summary { font-size: 0.85rem; color: var(--body-text-color-subdued); margin-top: 6px; }
"""

# Clicking a citation link shows its turn in the sources panel, scrolls to the card
# and highlights it. Capture phase, so the Chatbot's own link handling never runs.
JS = """
() => {
  if (window.__ragCitations) return;
  window.__ragCitations = true;
  window.ragSelectSource = (turn, key) => {
    const panel = document.getElementById('sources-panel');
    if (!panel) return false;
    panel.querySelectorAll('section.rag-turn').forEach((s) => {
      const on = s.dataset.turn === String(turn);
      s.hidden = !on;
      s.classList.toggle('rag-active', on);
    });
    const card = document.getElementById(`src-${turn}-${key}`);
    if (!card) return false;
    panel.querySelectorAll('.rag-card.rag-selected').forEach((c) => c.classList.remove('rag-selected'));
    const rest = card.closest('details');
    if (rest) rest.open = true;
    void card.offsetWidth;
    card.classList.add('rag-selected');
    card.scrollIntoView({behavior: 'smooth', block: 'nearest'});
    return true;
  };
  document.addEventListener('click', (event) => {
    const link = event.target instanceof Element ? event.target.closest('a[href^="#src-"]') : null;
    if (!link) return;
    const found = /^#src-(\\d+)-(\\w+)$/.exec(link.getAttribute('href') || '');
    if (!found) return;
    event.preventDefault();
    event.stopPropagation();
    window.ragSelectSource(found[1], found[2]);
  }, true);
  // Opening "Show full article" scrolls the article box to the highlighted passage.
  document.addEventListener('toggle', (event) => {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.open || !details.classList.contains('rag-full')) return;
    const box = details.querySelector('.rag-article-text');
    const mark = box && box.querySelector('mark');
    if (box && mark) box.scrollTop = Math.max(0, mark.offsetTop - 48);  // box is position: relative
  }, true);
}
"""


# --- uploads and removal (no Gradio) -------------------------------------------


def safe_name(name: str) -> str:
    """A file name without directories, in safe characters; raises ValueError with the reason."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", name or ""))[-1].strip()
    if not base or base in (".", ".."):
        raise ValueError("the file has no name")
    if base.startswith("."):
        raise ValueError("hidden files (names starting with '.') are not accepted")
    stem, dot, suffix = base.rpartition(".")
    if not dot or not stem:
        raise ValueError(f"no file type: use one of {', '.join(SUPPORTED_SUFFIXES)}")
    suffix = "." + suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(f"unsupported file type {suffix!r}: use one of {', '.join(SUPPORTED_SUFFIXES)}")
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")  # é -> e
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)
    stem = re.sub(r"_{2,}", "_", stem).strip("._-")
    if not stem:
        stem = "article"
    return stem[: MAX_NAME_CHARS - len(suffix)] + suffix


def store_upload(corpus_dir: Path, name: str, data: bytes, max_bytes: int) -> render.UploadOutcome:
    """Save one uploaded article into corpus_dir under a safe, new name; never overwrite another file."""
    shown = re.split(r"[\\/]", name or "")[-1] or "(unnamed)"
    try:
        clean = safe_name(name)
    except ValueError as exc:
        return render.UploadOutcome(shown, None, str(exc))
    if len(data) > max_bytes:
        return render.UploadOutcome(shown, None, f"too large: {len(data):,} bytes > limit {max_bytes:,} bytes")
    if not data.strip():
        return render.UploadOutcome(shown, None, "the file is empty")
    corpus = Path(corpus_dir).resolve()
    corpus.mkdir(parents=True, exist_ok=True)
    stem, suffix = clean[: -len(Path(clean).suffix)], Path(clean).suffix
    digest = hashlib.sha256(data).digest()
    temp = corpus / f".upload-{uuid.uuid4().hex}.tmp"  # hidden: the indexer never sees it
    try:
        temp.write_bytes(data)
        for n in range(1, 1000):
            candidate = corpus / (clean if n == 1 else f"{stem}-{n}{suffix}")
            if candidate.resolve().parent != corpus:
                return render.UploadOutcome(shown, None, "refused: the name points outside the corpus folder")
            if candidate.exists() or candidate.is_symlink():
                if candidate.is_file() and hashlib.sha256(candidate.read_bytes()).digest() == digest:
                    return render.UploadOutcome(shown, candidate.name, "identical to the file already there")
                continue
            try:
                _create_new(temp, candidate, data)
            except FileExistsError:
                continue
            note = "" if candidate.name == shown else ("renamed: a different file had that name"
                                                        if n > 1 else "name made safe")
            return render.UploadOutcome(shown, candidate.name, note)
        return render.UploadOutcome(shown, None, "too many files with that name")
    except OSError as exc:
        return render.UploadOutcome(shown, None, f"cannot save: {exc.strerror or exc}")
    finally:
        temp.unlink(missing_ok=True)


def _create_new(temp: Path, target: Path, data: bytes) -> None:
    """Make target hold data, raising FileExistsError rather than replacing anything."""
    try:
        os.link(temp, target)  # atomic: the file appears complete, or not at all
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system
        with open(target, "xb") as out:
            out.write(data)


def corpus_file(corpus_dir: Path, source: str) -> Path:
    """The file of an indexed article, refusing anything outside corpus_dir."""
    corpus = Path(corpus_dir).resolve()
    path = (corpus / source).resolve()
    if not path.is_relative_to(corpus) or path == corpus:
        raise RagError(f"Refused: {source} is not inside the corpus folder.")
    return path


# --- the app ----------------------------------------------------------------------


class RagApp:
    """Server-wide state shared by all sessions: chains per settings, the index lock."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._chains: dict[tuple[str, int], RagChain] = {}
        self._chains_lock = threading.Lock()
        self.index_lock = threading.Lock()
        self._hold_store()

    def _hold_store(self) -> None:
        """Open the embedded Chroma store once, before any concurrency, and keep it open.

        Chroma shares one refcounted "system" per path; two threads opening the same
        path for the first time at once can make one of them fail (KeyError on the
        path), e.g. the first question racing an upload's re-index. Holding a client
        for the app's lifetime means later opens only ever find a started system.
        """
        if self.settings.chroma_url or not Index.exists(self.settings):
            return
        try:
            Index.open(self.settings).vectors  # noqa: B018  (opened now, held by the shared Index)
        except RagError as exc:  # reported again, properly, by the first question
            log.warning("cannot open the vector store: %s", exc)

    # --- chains ----------------------------------------------------------------
    def chain(self, backend: str | None = None, top_k: int | None = None) -> RagChain:
        backend = backend or self.settings.backend
        if backend not in BACKENDS:
            raise QuestionError(f"Unknown backend {backend!r}: use one of {', '.join(BACKENDS)}.")
        k = int(top_k) if top_k else self.settings.top_k
        if not 1 <= k <= 50:
            raise QuestionError(f"top_k must be between 1 and 50, not {k}.")
        key = (backend, k)
        with self._chains_lock:
            chain = self._chains.get(key)
            if chain is None:
                settings = self.settings.model_copy(update={"backend": backend, "top_k": k})
                # Chains are cheap: the llama.cpp engine is loaded once per process and shared.
                chain = build_chain(settings)
                self._chains[key] = chain
            return chain

    def warm_up(self) -> None:
        """Load the embedder and index (and the local model) so the first question is quick."""
        try:
            self.chain().warm_up()
        except Exception as exc:  # the first question will report it properly
            log.warning("warm-up failed: %s", exc)

    # --- catalog -----------------------------------------------------------------
    def catalog(self) -> Catalog:
        return Index.open(self.settings).catalog

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
    def reindex(self) -> tuple[Any, str | None]:
        """Run build_index under the app's lock; returns (IndexReport | None, error)."""
        from rag.index.build import build_index

        with self.index_lock:
            try:
                return build_index(self.settings), None
            except RagError as exc:
                return None, str(exc)
            except Exception as exc:
                log.exception("indexing failed")
                return None, f"Indexing failed ({type(exc).__name__}: {exc})."

    def upload(self, files: Sequence[str | Path] | None) -> tuple[str, list[render.UploadOutcome], Any]:
        """Save uploaded files into the corpus, re-index; returns (report html, outcomes, report)."""
        outcomes: list[render.UploadOutcome] = []
        try:
            known = {digest: source for source, (_, digest) in self.catalog().manifest().items()}
        except RagError:
            known = {}
        for file in files or []:
            path = Path(getattr(file, "name", file))
            name = getattr(file, "orig_name", None) or path.name
            try:
                size = path.stat().st_size
                if size > self.settings.max_upload_bytes:
                    outcomes.append(render.UploadOutcome(
                        name, None, f"too large: {size:,} bytes > limit {self.settings.max_upload_bytes:,} bytes"))
                    continue
                data = path.read_bytes()
            except OSError as exc:
                outcomes.append(render.UploadOutcome(name, None, f"cannot read the upload: {exc.strerror or exc}"))
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest in known:
                message = f"the same text is already indexed as {known[digest]}"
                outcomes.append(render.UploadOutcome(name, None, message))
                continue
            outcome = store_upload(Path(self.settings.corpus_dir), name, data, self.settings.max_upload_bytes)
            if outcome.saved_as is not None:
                known[digest] = outcome.saved_as
            outcomes.append(outcome)
        if not any(o.saved_as for o in outcomes):
            return render.index_report_html(outcomes, error=None if outcomes else "No files received."), outcomes, None
        report, error = self.reindex()
        return self._report_html(outcomes, report, error), outcomes, report

    def remove(self, article_id: str | None) -> str:
        if not article_id:
            return render.index_report_html(error="Choose an article to remove.")
        try:
            article = self.catalog().get_article(article_id)
        except RagError as exc:
            return render.index_report_html(error=str(exc))
        if article is None:
            return render.index_report_html(error="That article is no longer in the index.")
        try:
            corpus_file(Path(self.settings.corpus_dir), article.source).unlink(missing_ok=True)
        except RagError as exc:
            return render.index_report_html(error=str(exc))
        except OSError as exc:
            return render.index_report_html(error=f"Cannot delete {article.source}: {exc.strerror or exc}")
        report, error = self.reindex()
        return self._report_html([], report, error)

    @staticmethod
    def _report_html(outcomes: list[render.UploadOutcome], report: Any, error: str | None) -> str:
        if report is None:
            return render.index_report_html(outcomes, error=error)
        return render.index_report_html(
            outcomes, report.added, report.updated, report.removed,
            [(p.source, p.reason) for p in report.problems], report.summary(), error,
        )

    # --- answering ----------------------------------------------------------------------
    def ask(self, question: str, history: Sequence[tuple[str, str]] = (), backend: str | None = None,
            top_k: int | None = None) -> Answer:
        return self.chain(backend, top_k).invoke({"question": question, "chat_history": list(history)})

    def respond(
        self, message: str, chat: list[dict[str, Any]] | None, views: list[render.TurnView] | None,
        backend: str | None = None, top_k: float | None = None,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """The chat handler: yields (chat messages, sources panel, turn views, textbox) as the answer streams."""
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
            for event in self.chain(backend, int(top_k or 0)).stream({"question": question, "chat_history": history}):
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


def build_app(settings: Settings | None = None, app: RagApp | None = None) -> gr.Blocks:
    """The Gradio Blocks of the chat app (launch it with :func:`launch`)."""
    settings = settings or Settings()
    rag = app or RagApp(settings)

    def new_chat() -> tuple[list[Any], str, list[Any], str]:
        return [], render.sources_html([], {}), [], ""

    def refresh() -> tuple[Any, Any, Any, Any]:
        try:
            rows = rag.article_rows()
            choices = [(f"{r['title']} ({r['source']})", str(r["id"])) for r in rows]
            samples = [[q] for q in rag.examples()]
            return (rag.status_html(), render.articles_table_html(rows), gr.Dropdown(choices=choices, value=None),
                    gr.Dataset(samples=samples))
        except Exception:
            log.exception("refresh failed")
            return rag.status_html(), gr.skip(), gr.skip(), gr.skip()

    def upload(files: list[str] | None) -> tuple[Any, ...]:
        try:
            html_report, _, _ = rag.upload(files)
        except Exception as exc:
            log.exception("upload failed")
            html_report = render.index_report_html(error=friendly_error(exc))
        return (html_report, None, *refresh())

    def remove(article_id: str | None) -> tuple[Any, ...]:
        try:
            html_report = rag.remove(article_id)
        except Exception as exc:
            log.exception("removal failed")
            html_report = render.index_report_html(error=friendly_error(exc))
        return (html_report, *refresh())

    def pick_example(sample: Any) -> str:
        if isinstance(sample, (list, tuple)):
            sample = sample[0] if sample else ""
        return str(sample or "")

    def api_ask(question: str, history_json: str = "[]", backend: str = "", top_k: int = 0) -> dict[str, Any]:
        """Answer a question from the indexed articles. history_json: a JSON list of [user, assistant] pairs
        of earlier turns; backend: local, openai or extractive ('' = server default); top_k: 0 = default."""
        try:
            history = json.loads(history_json or "[]")
            if not isinstance(history, list):
                raise QuestionError("history_json must be a JSON list of [user, assistant] pairs.")
            return rag.ask(question, history, backend or None, int(top_k or 0) or None).model_dump(mode="json")
        except json.JSONDecodeError as exc:
            raise gr.Error(f"history_json is not valid JSON: {exc}") from exc
        except RagError as exc:
            raise gr.Error(str(exc)) from exc

    with gr.Blocks(title="News chat — answers from the articles", analytics_enabled=False) as demo:
        with gr.Row(elem_id="rag-header"):
            gr.HTML('<h1>News chat</h1><div class="rag-subtitle">Answers come only from the indexed articles; '
                    "every claim links to the passage it is quoted from.</div>",
                    elem_id="rag-title", scale=3, min_width=300)
            status = gr.HTML(rag.status_html(), elem_id="index-status", scale=2, min_width=300)
        views_state = gr.State([])
        with gr.Tabs():
            with gr.Tab("Chat", id="chat-tab"), gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=420):
                    chatbot = gr.Chatbot(
                        elem_id="chat", height=600, show_label=False, sanitize_html=True, render_markdown=True,
                        latex_delimiters=[], feedback_options=None, buttons=["copy"],
                        placeholder="Ask about the indexed news articles. Every answer cites its sources.",
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            placeholder="Ask a question about the articles…", show_label=False, scale=6,
                            elem_id="question", max_lines=4, autofocus=True, submit_btn=False,
                        )
                        send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask-btn")
                        clear = gr.Button("New chat", scale=1, min_width=120, elem_id="new-chat")
                    examples = gr.Dataset(
                        components=[question], samples=[[q] for q in rag.examples()], label="Try asking",
                        elem_id="examples", samples_per_page=MAX_EXAMPLES,
                    )
                    with gr.Accordion("Answer settings (this session)", open=False, elem_id="answer-settings"):
                        backend = gr.Radio(
                            list(BACKENDS), value=settings.backend, label="Backend",
                            info="local: Qwen via llama.cpp · openai: OpenAI-compatible server · "
                                 "extractive: quotes the best sentences, no LLM",
                        )
                        top_k = gr.Slider(1, 20, value=min(settings.top_k, 20), step=1,
                                          label="Passages to retrieve (top-k)")
                with gr.Column(scale=2, min_width=340):
                    sources = gr.HTML(render.sources_html([], {}), elem_id="sources-panel", max_height=760)
            with gr.Tab("Articles", id="articles-tab"), gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=320):
                    files = gr.File(
                        file_count="multiple", label=f"Upload articles ({', '.join(SUPPORTED_SUFFIXES)}; "
                        f"up to {settings.max_upload_bytes / 1e6:g} MB each)", elem_id="upload", type="filepath",
                    )
                    report = gr.HTML(render.index_report_html(), elem_id="index-report")
                    with gr.Group():
                        to_remove = gr.Dropdown(label="Remove an article (deletes its file from the corpus)",
                                                choices=[], elem_id="remove-choice")
                        remove_btn = gr.Button("Remove article", variant="stop", elem_id="remove-btn")
                with gr.Column(scale=3, min_width=420):
                    articles = gr.HTML(render.articles_table_html([]), elem_id="articles-table")

        chat_outputs = [chatbot, sources, views_state, question]
        chat_inputs = [question, chatbot, views_state, backend, top_k]
        answering = [
            trigger(rag.respond, chat_inputs, chat_outputs, api_visibility="private", show_progress="hidden")
            for trigger in (question.submit, send.click)
        ]
        answering.append(
            examples.click(pick_example, examples, question, queue=False, api_visibility="private").then(
                rag.respond, chat_inputs, chat_outputs, api_visibility="private", show_progress="hidden"
            )
        )
        cancels: Any = answering  # gradio's annotation says dicts; it takes the events
        clear.click(new_chat, None, chat_outputs, queue=False, api_visibility="private", cancels=cancels)
        chatbot.clear(new_chat, None, chat_outputs, queue=False, api_visibility="private", cancels=cancels)
        refresh_outputs = [status, articles, to_remove, examples]
        files.upload(upload, files, [report, files, *refresh_outputs], api_visibility="private",
                     concurrency_limit=1, concurrency_id="index")
        remove_btn.click(remove, to_remove, [report, *refresh_outputs], api_visibility="private",
                         concurrency_limit=1, concurrency_id="index",
                         js="(id) => (id && confirm('Remove this article from the corpus and the index?')) ? id : null")
        demo.load(refresh, None, refresh_outputs, api_visibility="private", queue=False)
        gr.api(api_ask, api_name="ask")
    return demo


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    if not auth:
        return None
    user, colon, password = auth.partition(":")
    if not colon or not user or not password:
        raise RagError("RAG_AUTH must look like user:password.")
    return user, password


def launch_kwargs(settings: Settings) -> dict[str, Any]:
    """Everything launch() needs from the settings (also used by tests)."""
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "auth": parse_auth(settings.auth),
        "max_file_size": settings.max_upload_bytes,
        "show_error": False,
        "ssr_mode": False,
        "theme": THEME,
        "css": CSS,
        "js": JS,
        "footer_links": ["api", "settings"],
        "quiet": True,
    }


def build_missing_index(settings: Settings) -> None:
    """Build the index from the corpus when there is none, reporting to stderr."""
    if Index.exists(settings):
        return
    from rag.index.build import ensure_index

    print(f"No index at {settings.index_dir}: indexing {settings.corpus_dir} …", file=sys.stderr, flush=True)
    report = ensure_index(settings, progress=sys.stderr.isatty())
    if report is None:  # another process built it meanwhile
        return
    for problem in report.problems:
        print(f"problem  {problem.source}: {problem.reason}", file=sys.stderr)
    print(f"Indexed: {report.summary()}", file=sys.stderr, flush=True)


def launch(settings: Settings | None = None, *, prevent_thread_lock: bool = False) -> gr.Blocks:
    """Build the index if needed, then serve the app on settings.host:settings.port."""
    settings = settings or Settings()
    started = time.perf_counter()
    build_missing_index(settings)
    rag = RagApp(settings)
    demo = build_app(settings, rag)
    demo.queue(default_concurrency_limit=settings.concurrency_limit, max_size=100)
    kwargs = launch_kwargs(settings)
    demo.launch(prevent_thread_lock=True, **kwargs)
    url = f"http://{settings.host}:{demo.server_port}/"
    print(f"News chat ready at {url} ({time.perf_counter() - started:.1f} s)"
          + (" — basic auth on" if kwargs["auth"] else ""), file=sys.stderr, flush=True)
    print(url, flush=True)

    def background() -> None:
        rag.warm_up()
        report, error = rag.reindex()  # pick up files added to the corpus while the app was down
        if error:
            print(f"Index sync failed: {error}", file=sys.stderr, flush=True)
        elif report is not None and report.changed:
            print(f"Index synced with the corpus: {report.summary()}", file=sys.stderr, flush=True)

    threading.Thread(target=background, daemon=True, name="rag-warm-up").start()
    if not prevent_thread_lock:
        demo.block_thread()
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The news chat (configured by RAG_* environment variables).")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v: what each stage does; -vv: details, libraries too (RAG_LOG sets single modules).")
    options = parser.parse_args(argv)
    try:
        configure_logging(options.verbose)
        launch()
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except OSError as exc:  # e.g. the port is taken
        print(f"error: cannot start the server: {exc} (set RAG_HOST / RAG_PORT)", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass
