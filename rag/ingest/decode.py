"""Raw bytes -> text: BOMs, UTF-8, Western code pages, and binary files refused."""

from __future__ import annotations

import logging
import re
import unicodedata

from charset_normalizer import from_bytes

from rag.errors import CorpusError

log = logging.getLogger(__name__)

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")
_SAMPLE = 65536
# Western 8-bit text is mostly ASCII letters; Cyrillic or Greek read as cp1252 is not.
_MAX_NON_ASCII_LETTERS = 0.3


def decode_bytes(data: bytes, source: str) -> str:
    """Text of ``data``: BOM, then strict UTF-8, then cp1252 for Western text, then charset_normalizer.

    charset_normalizer alone misreads short cp1252/latin-1 texts (as cp1250 or
    cp932), hence the cp1252 check before it. Raises CorpusError for binary data.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = data.decode(encoding, errors="replace")
            if _mostly_unprintable(text):
                raise CorpusError(f"{source}: looks like a binary file, not text")
            return text
    sample = data[:_SAMPLE]
    if b"\x00" in data or len(_CONTROL_BYTES.findall(sample)) > 0.01 * len(sample):
        raise CorpusError(f"{source}: looks like a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    western = _decode_western(data)
    if western is not None:
        return western
    best = from_bytes(data).best()
    if best is None or _mostly_unprintable(str(best)):
        raise CorpusError(f"{source}: looks like a binary file, not text")
    log.debug("%s: decoded as %s", source, best.encoding)
    return str(best)


def _decode_western(data: bytes) -> str | None:
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None  # bytes cp1252 leaves undefined: some other code page
    letters = [c for c in text[:_SAMPLE] if c.isalpha()]
    non_ascii = sum(not c.isascii() for c in letters)
    return text if letters and non_ascii <= _MAX_NON_ASCII_LETTERS * len(letters) else None


def _mostly_unprintable(text: str) -> bool:
    sample = text[:_SAMPLE]
    bad = sum(1 for c in sample if c == "\ufffd" or (unicodedata.category(c) == "Cc" and c not in "\t\n\r\f\v"))
    return bad > 0.1 * max(len(sample), 1)
