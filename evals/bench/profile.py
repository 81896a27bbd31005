"""Where the time goes: pyinstrument profiles of ingest, one answer and one retrieval.

Each profile is saved as text (``profile-<name>.txt``) and summarised as the
functions with the most self time, so the report can name the top items.
pyinstrument samples the calling thread: time spent by llama.cpp on its own
threads shows up as the caller waiting for tokens (``queue.get``).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _self_times(frame: Any, totals: dict[str, float]) -> None:
    if frame is None:
        return
    # total_self_time of a real frame already includes its synthetic "[self]" children.
    if not frame.is_synthetic and frame.total_self_time > 0:
        totals[f"{frame.function} ({frame.file_path_short}:{frame.line_no})"] += frame.total_self_time
    for child in frame.children:
        _self_times(child, totals)


def _project_times(frame: Any, totals: dict[str, float], inside: frozenset[str] = frozenset()) -> None:
    """Cumulative time of each function of rag/ and evals/ (outermost call only, so recursion is not double counted)."""
    if frame is None or frame.is_synthetic:
        return
    path = (frame.file_path or "").replace("\\", "/")
    key = None
    if "/rag/" in path or "/evals/" in path:
        key = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
        if key not in inside:
            totals[key] += frame.time
            inside = inside | {key}
    for child in frame.children:
        _project_times(child, totals, inside)


def _summary(session: Any, top: int) -> dict[str, Any]:
    root = session.root_frame()
    duration = session.duration or 1e-9
    self_totals: dict[str, float] = defaultdict(float)
    _self_times(root, self_totals)
    project: dict[str, float] = defaultdict(float)
    _project_times(root, project)

    def ranked(totals: dict[str, float]) -> list[dict[str, Any]]:
        best = sorted(totals.items(), key=lambda item: -item[1])[:top]
        return [{"function": name, "seconds": s, "share": s / duration} for name, s in best]

    return {"duration_seconds": session.duration, "top_self_time": ranked(self_totals),
            "top_project_cumulative": ranked(project)}


def profile_call(name: str, fn: Callable[[], Any], out_dir: Path, top: int = 12) -> dict[str, Any]:
    """Run fn under pyinstrument; write profile-<name>.txt; return the top self-time items."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        fn()
    finally:
        session = profiler.stop()
    path = Path(out_dir) / f"profile-{name}.txt"
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    path.write_text(text)
    summary = _summary(session, top)
    summary["file"] = path.name
    return summary


def profile_ingest(corpus: Path, out_dir: Path) -> dict[str, Any]:
    """(a) one cold build of ``corpus`` into a scratch folder, embedder already loaded."""
    from rag.embeddings import get_embedder
    from rag.index.build import build_index
    from rag.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="bench-profile-ingest-"))
    try:
        settings = Settings(corpus_dir=corpus, index_dir=work / "index", chroma_url=None)
        get_embedder(settings.resolved_embedding_model(), settings.embedding_batch_size).encode(["warm up"])
        return profile_call("ingest", lambda: build_index(settings), out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def profile_answer(chain: Any, question: str, out_dir: Path) -> dict[str, Any]:
    """(b) one answer through a warmed chain (model loaded, system prompt cached)."""
    return profile_call(f"answer-{chain.settings.backend}", lambda: chain.invoke(question), out_dir)


def profile_retrieval(settings: Any, question: str, out_dir: Path, label: str) -> dict[str, Any]:
    """(c) one search for a question not seen before (cold sentence cache), index already open."""
    from evals.bench.latency import WARM_UP_QUERY
    from rag.answer.retrieve import forget_searches, get_search

    forget_searches()
    search = get_search(settings)
    search.search(WARM_UP_QUERY, settings.top_k)
    return profile_call(f"retrieval-{label}", lambda: search.search(question, settings.top_k), out_dir)
