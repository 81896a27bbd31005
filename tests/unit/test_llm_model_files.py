"""Assembling packaged GGUF models from their parts, and choosing the model file."""


from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rag.errors import ModelFileError
from rag.llm import model_files
from rag.llm.model_files import (
    PACKAGED_MODELS,
    ModelSpec,
    assemble,
    default_cache_dir,
    packaged_model_path,
    resolve_model_path,
)
from rag.settings import Settings


def make_parts(folder: Path, sizes: list[int], seed: int = 0) -> tuple[list[Path], bytes]:
    """Part files of the given sizes (the first starting with GGUF) and their concatenation."""
    folder.mkdir(parents=True, exist_ok=True)
    data = b"GGUF" + bytes((i * 31 + seed) % 251 for i in range(sum(sizes) - 4))
    parts, offset = [], 0
    for i, size in enumerate(sizes, 1):
        path = folder / f"part{i:02d}.bin"
        path.write_bytes(data[offset : offset + size])
        parts.append(path)
        offset += size
    return parts, data


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def parts(tmp_path: Path) -> tuple[list[Path], bytes]:
    return make_parts(tmp_path / "parts", [1000, 5000, 1, 2345])


def test_assemble_concatenates_in_order_and_stamps(tmp_path: Path, parts: tuple[list[Path], bytes]) -> None:
    paths, data = parts
    dest = tmp_path / "cache" / "model.gguf"
    assert assemble(paths, dest, len(data), sha(data)) == dest
    assert dest.read_bytes() == data
    stamp = json.loads(dest.with_name("model.gguf.stamp").read_text())
    assert stamp == {"size": len(data), "mtime_ns": dest.stat().st_mtime_ns, "sha256": sha(data)}
    assert leftovers(dest.parent) == []


def test_stamp_skips_rehashing(
    tmp_path: Path, parts: tuple[list[Path], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, data = parts
    dest = tmp_path / "model.gguf"
    assemble(paths, dest, len(data), sha(data))

    def boom(*args: object) -> None:
        raise AssertionError("should not hash or assemble again")

    monkeypatch.setattr(model_files, "_hash_file", boom)
    monkeypatch.setattr(model_files, "_assemble_locked", boom)
    assert assemble(paths, dest, len(data), sha(data)) == dest


def test_touched_file_is_verified_once_not_reassembled(
    tmp_path: Path, parts: tuple[list[Path], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, data = parts
    dest = tmp_path / "model.gguf"
    assemble(paths, dest, len(data), sha(data))
    os.utime(dest, ns=(1, 1))  # mtime no longer matches the stamp
    monkeypatch.setattr(model_files, "_assemble_locked", lambda *a: pytest.fail("reassembled a good file"))
    assemble(paths, dest, len(data), sha(data))
    assert json.loads(dest.with_name("model.gguf.stamp").read_text())["mtime_ns"] == 1


def test_corrupted_file_is_reassembled(tmp_path: Path, parts: tuple[list[Path], bytes]) -> None:
    paths, data = parts
    dest = tmp_path / "model.gguf"
    assemble(paths, dest, len(data), sha(data))
    with dest.open("r+b") as fh:  # same size, different bytes, stamp invalidated by the mtime change
        fh.seek(100)
        fh.write(b"XXXX")
    os.utime(dest, ns=(2, 2))
    assemble(paths, dest, len(data), sha(data))
    assert dest.read_bytes() == data


def test_bad_checksum_raises_and_leaves_nothing(tmp_path: Path, parts: tuple[list[Path], bytes]) -> None:
    paths, data = parts
    dest = tmp_path / "model.gguf"
    with pytest.raises(ModelFileError, match="fails its checksum"):
        assemble(paths, dest, len(data), "0" * 64)
    assert not dest.exists()
    assert not dest.with_name("model.gguf.stamp").exists()
    assert leftovers(tmp_path) == []


def test_wrong_total_size_raises_before_writing(tmp_path: Path, parts: tuple[list[Path], bytes]) -> None:
    paths, data = parts
    dest = tmp_path / "model.gguf"
    with pytest.raises(ModelFileError, match="add up to"):
        assemble(paths, dest, len(data) + 1, sha(data))
    assert not dest.exists() and leftovers(tmp_path) == []


def test_dest_appears_only_complete_via_rename(
    tmp_path: Path, parts: tuple[list[Path], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, data = parts
    dest = tmp_path / "model.gguf"
    seen: list[tuple[Path, int, bool]] = []
    real_replace = os.replace

    def spy(src: str | Path, dst: str | Path) -> None:
        if Path(dst) == dest:
            seen.append((Path(src), Path(src).stat().st_size, dest.exists()))
        real_replace(src, dst)

    monkeypatch.setattr(model_files.os, "replace", spy)
    assemble(paths, dest, len(data), sha(data))
    [(src, size, existed)] = seen
    assert src.parent == dest.parent and src.name.endswith(".tmp")  # same filesystem: atomic rename
    assert size == len(data) and not existed


def test_failure_midway_removes_temp_file(
    tmp_path: Path, parts: tuple[list[Path], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, data = parts
    dest = tmp_path / "model.gguf"
    monkeypatch.setattr(model_files.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(OSError):
        assemble(paths, dest, len(data), sha(data))
    assert not dest.exists() and leftovers(tmp_path) == []


def test_concurrent_processes_assemble_once(tmp_path: Path) -> None:
    # Three processes race for one file; exactly one may build it.
    paths, data = make_parts(tmp_path / "parts", [8_000_000, 8_000_000, 4_000_000])
    dest = tmp_path / "cache" / "model.gguf"
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from rag.llm import model_files
        calls = []
        real = model_files._assemble_locked
        # Hold the lock a while so the other processes arrive during the assembly.
        model_files._assemble_locked = lambda *a: (calls.append(1), time.sleep(1.0), real(*a))
        model_files.assemble([Path(p) for p in {[str(p) for p in paths]!r}], Path({str(dest)!r}),
                             {len(data)}, {sha(data)!r})
        print(len(calls))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(outputs) == ["0", "0", "1"]
    assert sha(dest.read_bytes()) == sha(data)
    assert leftovers(dest.parent) == []


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, bytes]:
    """A packaged model named 'fake' whose three parts are modules on sys.path."""
    paths, data = make_parts(tmp_path / "blobs", [300, 300, 17])
    site = tmp_path / "site"
    for i, path in enumerate(paths, 1):
        pkg = site / f"fake_model_part{i}"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(f"def get_part_path():\n    return {str(path)!r}\n")
    monkeypatch.syspath_prepend(str(site))
    spec = ModelSpec(
        filename="fake.gguf",
        module_prefix="fake_model_part",
        distribution_prefix="fake-model-part",
        version="1.0",
        n_parts=3,
        size=len(data),
        sha256=sha(data),
    )
    monkeypatch.setitem(PACKAGED_MODELS, "fake", spec)
    return "fake", data


def test_packaged_model_is_assembled_into_cache_dir(tmp_path: Path, fake_package: tuple[str, bytes]) -> None:
    name, data = fake_package
    path = packaged_model_path(name, cache_dir=tmp_path / "models")  # type: ignore[arg-type]
    assert path == tmp_path / "models" / "fake.gguf"
    assert path.read_bytes() == data


def test_cache_dir_comes_from_env(
    tmp_path: Path, fake_package: tuple[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_MODEL_CACHE", str(tmp_path / "from-env"))
    assert default_cache_dir() == tmp_path / "from-env"
    assert packaged_model_path(fake_package[0]).parent == tmp_path / "from-env"  # type: ignore[arg-type]


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_MODEL_CACHE", raising=False)
    assert default_cache_dir() == Path.home() / ".cache" / "newsrag" / "models"


def test_missing_part_names_the_pip_command(
    tmp_path: Path, fake_package: tuple[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fake_model_part2", None)  # makes the import fail
    with pytest.raises(ModelFileError, match=r"pip install fake-model-part2==1\.0`"):
        packaged_model_path(fake_package[0], cache_dir=tmp_path / "models")  # type: ignore[arg-type]


def test_missing_optional_model_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec = PACKAGED_MODELS["qwen2.5-coder-0.5b"]
    for i in range(1, spec.n_parts + 1):
        monkeypatch.setitem(sys.modules, spec.module(i), None)
    with pytest.raises(ModelFileError, match=r"pip install 'newsrag\[small\]'"):
        packaged_model_path("qwen2.5-coder-0.5b", cache_dir=tmp_path)


def test_every_setting_value_has_a_spec() -> None:
    from typing import get_args

    from rag.settings import PackagedModel

    assert set(get_args(PackagedModel)) == set(PACKAGED_MODELS)


def test_resolve_prefers_explicit_gguf(tmp_path: Path) -> None:
    path = tmp_path / "any.gguf"
    path.write_bytes(b"GGUF\x03\x00\x00\x00rest")
    assert resolve_model_path(Settings(llm_model_path=path)) == path


def test_resolve_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist") as info:
        resolve_model_path(Settings(llm_model_path=tmp_path / "nope.gguf"))
    assert "\n" not in str(info.value)


def test_resolve_rejects_non_gguf(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"PK\x03\x04 a zip, not a model")
    with pytest.raises(ModelFileError, match="not a GGUF model"):
        resolve_model_path(Settings(llm_model_path=path))


def test_resolve_falls_back_to_packaged(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[str] = []

    def fake(name: str) -> Path:
        calls.append(name)
        return tmp_path / name

    monkeypatch.setattr(model_files, "packaged_model_path", fake)
    assert resolve_model_path(Settings(llm_model="qwen2.5-coder-0.5b")) == tmp_path / "qwen2.5-coder-0.5b"
    assert calls == ["qwen2.5-coder-0.5b"]
