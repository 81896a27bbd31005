"""The corpus folder -> the article files to load (and the ones skipped, with why)."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.errors import CorpusError

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
MAX_FILE_BYTES = 10_000_000  # the default of RAG_MAX_FILE_BYTES
LINK_REFUSED = (
    "a symbolic link: skipped, since it could point outside the corpus folder; copy the article in instead"
)


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
    corpus_dir = require_corpus_folder(corpus_dir)
    files: list[SourceFile] = []
    found_paths, links = _walk(corpus_dir)
    problems = [FileProblem(source, LINK_REFUSED) for source in links]
    for path, source in sorted(found_paths, key=lambda item: item[1]):
        found = _inspect(path, source, max_file_bytes)
        (files if isinstance(found, SourceFile) else problems).append(found)  # type: ignore[arg-type]
    log.info("scanned %s: %d files, %d skipped", corpus_dir, len(files), len(problems))
    return files, sorted(problems, key=lambda problem: problem.source)


def scan_files(corpus_dir: Path, sources: Sequence[str], max_file_bytes: int) -> tuple[list[SourceFile], list[FileProblem]]:
    """Like :func:`scan_corpus`, for these files of the corpus folder only (an upload's)."""
    files: list[SourceFile] = []
    problems: list[FileProblem] = []
    for source in sources:
        found = _inspect(Path(corpus_dir) / source, source, max_file_bytes)
        (files if isinstance(found, SourceFile) else problems).append(found)  # type: ignore[arg-type]
    return files, problems


def require_corpus_folder(corpus_dir: Path) -> Path:
    """The corpus folder, or CorpusError when there is none."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(f"Corpus folder not found: {corpus_dir} (set RAG_CORPUS_DIR or pass --corpus)")
    return corpus_dir


def _walk(root: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """(path, posix relative path) of supported, non-hidden regular files, and the relative paths of
    symbolic links with a supported suffix. No link is followed: a link can point outside the corpus
    folder (``ln -s ~/.env corpus/notes.txt``) and its target would be indexed and served."""
    found: list[tuple[Path, str]] = []
    links: list[str] = []
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
                elif not entry.name.lower().endswith(SUPPORTED_SUFFIXES):
                    continue
                elif entry.is_symlink():
                    links.append(relative)
                elif entry.is_file(follow_symlinks=False):
                    found.append((Path(entry.path), relative))
            except OSError:
                continue  # vanished while listed
    return found, links


def read_article_bytes(path: Path, max_file_bytes: int) -> bytes:
    """The bytes of a regular file, opened without following a symbolic link and read up to the limit.

    The checks hold at the moment of reading, so a file swapped for a link (or a
    device, a FIFO) after the scan is refused too. Raises OSError, or
    :class:`TooLargeError` past ``max_file_bytes`` (whatever the file's size claims:
    files like those under /proc say 0).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file")
        data = handle.read(max_file_bytes + 1)
    if len(data) > max_file_bytes:
        raise TooLargeError(max_file_bytes)
    return data


class TooLargeError(Exception):
    """A file holds more than the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"too large: over the limit of {_human_size(limit)}; raise RAG_MAX_FILE_BYTES to include it")


def _inspect(path: Path, source: str, max_file_bytes: int) -> SourceFile | FileProblem:
    try:
        size = path.stat(follow_symlinks=False).st_size
        if size > max_file_bytes:
            return FileProblem(
                source,
                f"too large: {_human_size(size)} > limit {_human_size(max_file_bytes)}; "
                "raise RAG_MAX_FILE_BYTES to include it",
            )
        data = read_article_bytes(path, max_file_bytes)
    except TooLargeError as exc:
        return FileProblem(source, str(exc))
    except FileNotFoundError:
        return FileProblem(source, "vanished while the corpus was being scanned")
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # replaced by a link since it was listed
            return FileProblem(source, LINK_REFUSED)
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
