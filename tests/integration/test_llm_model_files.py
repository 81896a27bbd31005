"""Assembling packaged GGUF models from their parts, and choosing the model file."""


from __future__ import annotations

import pytest

from rag.llm import model_files
from rag.llm.model_files import (
    PACKAGED_MODELS,
    packaged_model_path,
)


def _installed(name: str) -> bool:
    import importlib.util

    spec = PACKAGED_MODELS[name]
    return all(importlib.util.find_spec(spec.module(i)) for i in range(1, spec.n_parts + 1))


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(PACKAGED_MODELS))
def test_real_packaged_model(name: str) -> None:
    if not _installed(name):
        pytest.skip(f"{name} is not installed: {PACKAGED_MODELS[name].pip_command()}")
    spec = PACKAGED_MODELS[name]
    path = packaged_model_path(name)  # type: ignore[arg-type]
    assert path.stat().st_size == spec.size
    assert model_files.is_gguf(path)
    assert model_files._hash_file(path) == spec.sha256
