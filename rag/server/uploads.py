"""Uploaded files into the corpus folder, safely: no Gradio here, so every rule is testable on its own.

A name is reduced to a safe file name inside the corpus folder (never a path out
of it), the size and type are checked, and an existing file is never overwritten:
identical bytes are reported as already there, different bytes get a new name.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

from rag.errors import CorpusError, RagError
from rag.ingest.decode import decode_bytes
from rag.ingest.scan import SUPPORTED_SUFFIXES

MAX_NAME_CHARS = 100


@dataclass(frozen=True)
class UploadOutcome:
    """One uploaded file: saved (under which name) or rejected (why)."""

    name: str
    saved_as: str | None = None
    message: str = ""


def too_large(name: str, size: int, limit: int) -> UploadOutcome:
    """The outcome of an upload over the size limit (checked wherever its size is first known)."""
    return UploadOutcome(name, None, f"too large: {size:,} bytes > limit {limit:,} bytes")


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


def store_upload(corpus_dir: Path, name: str, data: bytes, max_bytes: int) -> UploadOutcome:
    """Save one uploaded article into corpus_dir under a safe, new name; never overwrite another file."""
    shown = re.split(r"[\\/]", name or "")[-1] or "(unnamed)"
    try:
        clean = safe_name(name)
    except ValueError as exc:
        return UploadOutcome(shown, None, str(exc))
    if len(data) > max_bytes:
        return too_large(shown, len(data), max_bytes)
    if not data.strip():
        return UploadOutcome(shown, None, "the file is empty")
    try:
        decode_bytes(data, shown)  # a zip renamed .html, a file with NUL bytes: refused before it is saved
    except CorpusError as exc:
        return UploadOutcome(shown, None, str(exc).removeprefix(f"{shown}: "))
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
                return UploadOutcome(shown, None, "refused: the name points outside the corpus folder")
            if candidate.exists() or candidate.is_symlink():
                if candidate.is_file() and hashlib.sha256(candidate.read_bytes()).digest() == digest:
                    return UploadOutcome(shown, candidate.name, "identical to the file already there")
                continue
            try:
                _create_new(temp, candidate, data)
            except FileExistsError:
                continue
            note = "" if candidate.name == shown else ("renamed: a different file had that name"
                                                        if n > 1 else "name made safe")
            return UploadOutcome(shown, candidate.name, note)
        return UploadOutcome(shown, None, "too many files with that name")
    except OSError as exc:
        return UploadOutcome(shown, None, f"cannot save: {exc.strerror or exc}")
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
