"""The public API is what __all__ says, and every name resolves."""

import rag


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
