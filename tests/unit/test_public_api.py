"""The public API is what __all__ says, every name resolves, and settings fail in one clear line."""

import logging
from pathlib import Path

import pytest

import rag
from rag.errors import SettingsError
from rag.settings import get_settings, unknown_variables


def test_all_names_resolve() -> None:
    for name in rag.__all__:
        assert getattr(rag, name) is not None, name


def test_documented_entry_points() -> None:
    assert {"build_chain", "build_retriever", "build_index", "Settings", "Answer"} <= set(rag.__all__)
    assert issubclass(rag.QuestionError, rag.RagError) and issubclass(rag.ModelFileError, rag.BackendError)


def test_every_setting_is_described() -> None:
    from rag.settings import Settings

    undescribed = [name for name, field in Settings.model_fields.items() if not field.description]
    assert undescribed == []


def test_an_invalid_setting_is_one_line_naming_variable_value_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RAG_TOP_K", "0")
    monkeypatch.setenv("RAG_BACKEND", "bogus")
    with pytest.raises(SettingsError) as caught:
        get_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert "RAG_TOP_K=0: Input should be greater than or equal to 1" in message
    assert "RAG_BACKEND=bogus: Input should be 'local', 'openai' or 'extractive'" in message


def test_a_misspelled_setting_names_the_closest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAG_TOPK", "8")
    with caplog.at_level(logging.WARNING):
        assert get_settings().top_k == 5
    assert "RAG_TOPK is not a setting and is ignored (did you mean RAG_TOP_K?)" in caplog.text
    (tmp_path / ".env").write_text("RAG_CHUNK_MAX_CHAR=900\n")
    with pytest.raises(SettingsError, match=r"RAG_CHUNK_MAX_CHAR \(in .env\) is not a setting \(did you mean "
                                            r"RAG_CHUNK_MAX_CHARS\?\)"):
        get_settings()


def test_variables_read_outside_the_settings_are_not_unknown() -> None:
    assert unknown_variables({"RAG_LOG": "x", "RAG_MODEL_CACHE": "y", "RAG_TOP_K": "3", "RAG_BOGUS": "1"}) == [
        "RAG_BOGUS"]
