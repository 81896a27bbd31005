"""Log levels for the command line and the app: quiet by default, ``-v`` / ``-vv`` for more.

0: warnings only; 1 (``-v``): our own modules at INFO (what the index did, which
stage refused); 2 (``-vv``): ours at DEBUG and the libraries (Chroma, httpx,
Gradio) at INFO. ``RAG_LOG="rag.answer=DEBUG,chromadb=WARNING"`` sets single
modules on top of that, for when one stage needs a closer look.
"""

from __future__ import annotations

import logging
import os

from rag.errors import RagError

FORMAT = "%(levelname)s %(name)s: %(message)s"
_OURS = ("rag", "evals")


def module_levels(verbosity: int, overrides: str = "") -> tuple[int, dict[str, int]]:
    """The root level and the per-module levels for a verbosity and a ``RAG_LOG`` value."""
    root = logging.INFO if verbosity >= 2 else logging.WARNING
    ours = logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity == 1 else logging.WARNING
    levels = dict.fromkeys(_OURS, ours)
    for item in filter(None, (part.strip() for part in overrides.split(","))):
        name, sep, level = item.partition("=")
        number = logging.getLevelName(level.strip().upper())
        if not sep or not name.strip() or not isinstance(number, int):
            raise RagError(f"RAG_LOG: expected module=LEVEL (e.g. rag.answer=DEBUG), got {item!r}")
        levels[name.strip()] = number
    return root, levels


def configure_logging(verbosity: int = 0) -> None:
    """Apply :func:`module_levels` to the logging tree (call once, at the program's start)."""
    root, levels = module_levels(verbosity, os.environ.get("RAG_LOG", ""))
    logging.basicConfig(level=root, format=FORMAT)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
