"""Exceptions shown to the user.

Every error the library raises on purpose derives from :class:`RagError`; its
message is one line that says what went wrong and what to do next. The CLI and
the app print it as is, without a traceback.

    RagError
    ├── CorpusError          the corpus folder or one of its files is unusable
    ├── IndexMissingError    no index yet: run `rag index`
    ├── IndexMismatchError   the index was built with other settings: `rag index --rebuild`
    ├── IndexCorruptError    the index is damaged: `rag index --rebuild`
    ├── IndexReadOnlyError   the index folder cannot be written: make it writable or choose another
    ├── DiskFullError        the disk filled up while indexing: free space, run `rag index` again
    ├── QuestionError        the question is empty or unusable
    │   └── FilterError      a retrieval filter (publisher, since, until, article ids) is malformed
    ├── SettingsError        a setting (RAG_* variable, .env line, argument) has a value that is not allowed
    └── BackendError         the LLM could not be loaded or reached
        ├── ModelFileError   a GGUF file is missing or fails its checksum
        └── NoLogProbabilitiesError  the LLM server returns no log-probabilities
"""

from __future__ import annotations


class RagError(Exception):
    """Base class: the message is meant for the user."""


class CorpusError(RagError):
    """The corpus folder, or a file in it, cannot be used."""


class IndexMissingError(RagError):
    """There is no index at the configured location."""


class IndexMismatchError(RagError):
    """The index was built with settings that differ from the current ones."""


class IndexCorruptError(RagError):
    """The index on disk cannot be read."""


class IndexReadOnlyError(RagError):
    """The index folder is read-only (updating it, or opening the embedded Chroma store, needs write access)."""

    def __init__(self, index_dir: object, why: str) -> None:
        super().__init__(
            f"The index folder {index_dir} is read-only: {why}; make it writable or choose another with --index "
            "or RAG_INDEX_DIR."
        )


class DiskFullError(RagError):
    """The disk holding the index filled up; the index keeps its last good state."""


class QuestionError(RagError):
    """The question cannot be answered as given (empty, too long, ...)."""


class FilterError(QuestionError):
    """A retrieval filter has a key or value that is not allowed; the message names the field and the form it takes.

    A filter that matches no article is not an error: retrieval then finds nothing and says why.
    """


class SettingsError(RagError):
    """A setting has a value that is not allowed, or is not a setting at all."""


class BackendError(RagError):
    """The configured LLM backend failed to load or answer."""


class ModelFileError(BackendError):
    """A model file is missing, incomplete or fails its checksum."""


class NoLogProbabilitiesError(BackendError):
    """The LLM server answers without log-probabilities, so nothing can be read as a probability."""
