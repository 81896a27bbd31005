"""Index statistics for `rag info` and the app's status line."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from rag.index.catalog import Catalog
from rag.index.vectors import VectorStore
from rag.settings import Settings


def index_status(settings: Settings) -> dict[str, object]:
    """Counts and locations of the index (raises IndexMissingError when there is none)."""
    catalog = Catalog(Path(settings.index_dir))
    articles, passages = catalog.counts()
    last = catalog.get_meta("last_indexed")
    store = VectorStore(settings)
    return {
        "corpus": str(settings.corpus_dir),
        "index": str(settings.index_dir),
        "vectors at": store.location,
        "articles": articles,
        "passages": passages,
        "vectors": store.count(),
        "last indexed": (
            datetime.fromtimestamp(float(last), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if last else "never"
        ),
        "fingerprint": catalog.get_meta("fingerprint"),
        "interrupted": catalog.get_meta("dirty") == "1",
    }
