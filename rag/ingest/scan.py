"""The corpus folder -> the article files to load (and the ones skipped, with why)."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from rag.errors import CorpusError

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")


@dataclass(frozen=True)
class SourceFile:
    """A candidate article file found by :func:`scan_corpus`."""

    path: Path
    source: str  # path relative to the corpus folder, with forward slashes
    size: int
    content_hash: str  # sha256 hex of the raw bytes


@dataclass(frozen=True)
class FileProblem:
    """A file that was skipped, and why (one line, for the user)."""

    source: str
    reason: str


def scan_corpus(corpus_dir: Path, max_file_bytes: int) -> tuple[list[SourceFile], list[FileProblem]]:
    """Supported files under ``corpus_dir`` (recursive, sorted by relative path) and the skipped ones.

    Hidden files and folders and other suffixes are ignored silently; files over
    ``max_file_bytes`` or that cannot be read are reported as problems.
    """
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(f"Corpus folder not found: {corpus_dir} (set RAG_CORPUS_DIR or pass --corpus)")
    files: list[SourceFile] = []
    problems: list[FileProblem] = []
    for path, source in sorted(_walk(corpus_dir), key=lambda item: item[1]):
        found = _inspect(path, source, max_file_bytes)
        (files if isinstance(found, SourceFile) else problems).append(found)  # type: ignore[arg-type]
    log.info("scanned %s: %d files, %d skipped", corpus_dir, len(files), len(problems))
    return files, problems


def _walk(root: Path) -> list[tuple[Path, str]]:
    """(path, posix relative path) of supported, non-hidden files; symlinked folders are not followed."""
    found: list[tuple[Path, str]] = []
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc.strerror or exc)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relative = f"{prefix}{entry.name}"
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((Path(entry.path), f"{relative}/"))
                elif entry.name.lower().endswith(SUPPORTED_SUFFIXES) and entry.is_file():
                    found.append((Path(entry.path), relative))
            except OSError:
                continue  # vanished or a broken symlink
    return found


def _inspect(path: Path, source: str, max_file_bytes: int) -> SourceFile | FileProblem:
    try:
        size = path.stat().st_size
        if size > max_file_bytes:
            return FileProblem(
                source,
                f"too large: {_human_size(size)} > limit {_human_size(max_file_bytes)}; "
                "raise RAG_MAX_FILE_BYTES to include it",
            )
        data = path.read_bytes()
    except FileNotFoundError:
        return FileProblem(source, "vanished while the corpus was being scanned")
    except OSError as exc:
        return FileProblem(source, f"cannot read: {exc.strerror or exc}")
    return SourceFile(path=path, source=source, size=len(data), content_hash=hashlib.sha256(data).hexdigest())


def _human_size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def article_id_for(source: str) -> str:
    """Stable 16-hex-digit id of an article, from its posix path relative to the corpus folder."""
    return hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()[:16]
