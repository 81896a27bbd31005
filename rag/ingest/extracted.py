"""What a document's markup gave: its text and metadata (title, publisher, date, URL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class Extracted:
    """Plain text of a document plus the metadata its markup carried."""

    text: str
    title: str | None = None
    publisher: str | None = None
    date: str | None = None
    url: str | None = None


_DATE_FORMATS = ("%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%Y/%m/%d", "%Y.%m.%d")


def iso_date(value: str | None) -> str | None:
    """YYYY-MM-DD when the date parses, else the value as found."""
    if not value or not value.strip():
        return None
    value = " ".join(value.split())
    try:
        return datetime.fromisoformat(value).date().isoformat()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date().isoformat()
        except ValueError:
            continue
    try:
        return parsedate_to_datetime(value).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return value
