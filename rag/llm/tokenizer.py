"""The token ids the local model reads a text as, for forcing a reply token by token.

llama.cpp's in-process server has no tokenize call, and a reply forced with a text grammar is split the way the
model's greedy choice allows (" the" + "re" for " there"), which costs tens of nats that the canonical " there"
does not. The model's own tokenizer is in its GGUF file: transformers converts it once (~15 s) into a
tokenizer.json kept beside the model in the cache, which loads in well under a second afterwards.
"""

from __future__ import annotations

import hashlib
import logging
import os
from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer

from rag.llm.model_files import default_cache_dir

log = logging.getLogger(__name__)


def tokenizer_path(model_path: Path) -> Path:
    """Where the converted tokenizer of a GGUF file is kept: by the file's name, size and modification time."""
    stat = model_path.stat()
    key = hashlib.sha256(f"{model_path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return default_cache_dir() / "tokenizers" / f"{model_path.stem}-{key}.json"


@lru_cache(maxsize=2)
def gguf_tokenizer(model_path: str) -> Tokenizer:
    """The tokenizer of a GGUF model (converted on first use, then cached)."""
    path = Path(model_path)
    cached = tokenizer_path(path)
    if not cached.is_file():
        from transformers import AutoTokenizer

        log.info("converting the tokenizer of %s (once)", path.name)
        converted = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        converted.backend_tokenizer.save(str(partial))
        os.replace(partial, cached)  # atomic: a concurrent process reads either nothing or the whole file
    return Tokenizer.from_file(str(cached))


def token_ids(model_path: str, text: str) -> list[int]:
    return gguf_tokenizer(model_path).encode(text, add_special_tokens=False).ids
