"""What every front end of one server shares: the chains, the index lock, adding and removing articles.

The Gradio UI (rag.web) and the HTTP API (rag.server.api) are two faces of one
:class:`NewsService`, so an article uploaded through either answers in both, and
uploads and removals from both queue on the same lock. Nothing here knows HTTP
or Gradio.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from rag.answer.chain import RagChain, build_chain
from rag.answer.retrieve import Search, get_search
from rag.embeddings import get_embedder
from rag.errors import QuestionError, RagError
from rag.index.build import IndexReport, add_to_index, build_index, remove_from_index
from rag.index.catalog import Catalog
from rag.index.handle import Index
from rag.server.uploads import UploadOutcome, corpus_file, store_upload, too_large
from rag.settings import Backend, Settings
from rag.types import Article

log = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = get_args(Backend)
MAX_TOP_K = 50


@dataclass
class IndexChange:
    """What one upload or removal did: each file's outcome, the indexing report, or the error that stopped it."""

    outcomes: list[UploadOutcome] = field(default_factory=list)
    report: IndexReport | None = None
    error: str | None = None


class ArticleNotFoundError(RagError):
    """No indexed article has that id."""


class NewsService:
    """Server-wide state shared by the UI, the API and every session."""

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
        for the server's lifetime means later opens only ever find a started system.
        """
        if self.settings.chroma_url or not Index.exists(self.settings):
            return
        try:
            Index.open(self.settings).vectors  # noqa: B018  (opened now, held by the shared Index)
        except RagError as exc:  # reported again, properly, by the first question
            log.warning("cannot open the vector store: %s", exc)

    # --- chains ----------------------------------------------------------------
    def chain(self, backend: str | None = None, top_k: int | None = None) -> RagChain:
        """The chain for a backend and top-k (the defaults when None); chains share one search and one model."""
        backend = backend or self.settings.backend
        if backend not in BACKENDS:
            raise QuestionError(f"Unknown backend {backend!r}: use one of {', '.join(BACKENDS)}.")
        k = int(top_k) if top_k else self.settings.top_k
        if not 1 <= k <= MAX_TOP_K:
            raise QuestionError(f"top_k must be between 1 and {MAX_TOP_K}, not {k}.")
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

    def search(self) -> Search:
        """The index's one shared search (retrieval without an answer)."""
        return get_search(self.settings)

    def count_tokens(self, text: str) -> int:
        """Sub-word tokens of text, for the API's usage figures (the embedding model's tokenizer, already loaded)."""
        return get_embedder(self.settings.resolved_embedding_model(), self.settings.embedding_batch_size).count_tokens(text)

    # --- reading the catalog -------------------------------------------------------
    def catalog(self) -> Catalog:
        return Index.open(self.settings).catalog

    def article(self, article_id: str) -> Article:
        """The indexed article with that id, or ArticleNotFoundError."""
        article = self.catalog().get_article(article_id)
        if article is None:
            raise ArticleNotFoundError(f"No indexed article has the id {article_id!r}.")
        return article

    # --- changing the corpus and the index ------------------------------------------------
    def reindex(
        self, *, allow_empty: bool = False, on_progress: Callable[[int, int], None] | None = None
    ) -> tuple[IndexReport | None, str | None]:
        """Bring the index up to date with the corpus folder under the server's lock: (report, error)."""
        return self._locked_index_change(
            lambda: build_index(self.settings, allow_empty=allow_empty, on_progress=on_progress))

    def _locked_index_change(self, change: Callable[[], IndexReport]) -> tuple[IndexReport | None, str | None]:
        """Run one change of the index under the server's lock: (report, error)."""
        with self.index_lock:
            try:
                return change(), None
            except RagError as exc:
                return None, str(exc)
            except Exception as exc:
                log.exception("indexing failed")
                return None, f"Indexing failed ({type(exc).__name__}: {exc})."

    def add_articles(
        self, files: Sequence[tuple[str, bytes]], on_progress: Callable[[int, int], None] | None = None
    ) -> IndexChange:
        """Save (name, bytes) uploads into the corpus folder and index them.

        Each file is checked on its own (name, type, size, binary content, the same text
        already indexed); a file the indexer then refuses (no article text in it) is
        deleted again, so nothing unindexed is left in the corpus.
        """
        outcomes: list[UploadOutcome] = []
        try:
            known = {digest: source for source, (_, digest) in self.catalog().manifest().items()}
        except RagError:
            known = {}
        limit = self.settings.max_upload_bytes
        for name, data in files:
            if len(data) > limit:
                outcomes.append(too_large(name, len(data), limit))
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest in known:
                outcomes.append(UploadOutcome(name, None, f"the same text is already indexed as {known[digest]}"))
                continue
            outcome = store_upload(Path(self.settings.corpus_dir), name, data, limit)
            if outcome.saved_as is not None:
                known[digest] = outcome.saved_as
            outcomes.append(outcome)
        saved = [o.saved_as for o in outcomes if o.saved_as]
        if not saved:
            return IndexChange(outcomes, None, None if outcomes else "No files received.")
        report, error = self._locked_index_change(lambda: add_to_index(self.settings, saved, on_progress))
        if report is not None:
            outcomes = self._drop_unindexable(outcomes, report)
        return IndexChange(outcomes, report, error)

    def _drop_unindexable(self, outcomes: list[UploadOutcome], report: IndexReport) -> list[UploadOutcome]:
        """Delete the uploads the index refused (no article text in them, ...), so none is left behind."""
        refused = {problem.source: problem.reason for problem in report.problems}
        kept: list[UploadOutcome] = []
        for outcome in outcomes:
            reason = refused.get(outcome.saved_as or "")
            if reason is None:
                kept.append(outcome)
                continue
            corpus_file(Path(self.settings.corpus_dir), outcome.saved_as or "").unlink(missing_ok=True)
            kept.append(UploadOutcome(outcome.name, None, f"not indexed, not kept: {reason}"))
        deleted = {o.saved_as for o in outcomes} - {o.saved_as for o in kept}
        report.problems = [p for p in report.problems if p.source not in deleted]  # reported above, once
        return kept

    def remove_article(self, article_id: str) -> IndexChange:
        """Delete an indexed article's file from the corpus folder (if this server has it: another replica's
        upload lives in that replica's folder) and take the article out of the index (ArticleNotFoundError if
        unknown)."""
        article = self.article(article_id)
        try:
            corpus_file(Path(self.settings.corpus_dir), article.source).unlink(missing_ok=True)
        except OSError as exc:
            return IndexChange(error=f"Cannot delete {article.source}: {exc.strerror or exc}")
        report, error = self._locked_index_change(lambda: remove_from_index(self.settings, [article_id]))
        return IndexChange([], report, error)
