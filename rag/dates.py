"""Dates as the days they cover: an article dated "2025" was published on some day of 2025.

Article dates are stored as found, ISO when they could be parsed (see ``rag.ingest.extracted.iso_date``), so
a stored date may be a year, a month, a day, a timestamp, or text nobody could read. Date filters compare
spans: an article is kept when the days its date covers overlap the requested range, so "2025" is kept by
a filter on May 2025 (it may be from May) and an unreadable date counts as no date.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime

# A year, a year and month, or a full date; one-digit months and days are let through ("2025-5-1").
_PERIOD = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")


def date_span(text: str | None) -> tuple[date, date] | None:
    """The first and last day a date covers: "2025" -> 2025-01-01..2025-12-31, "2025-05" -> the month,
    "2025-05-12" or "2025-05-12T10:00:00" -> that day; None for no date or one that cannot be read."""
    if not text or not text.strip():
        return None
    text = text.strip()
    found = _PERIOD.fullmatch(text)
    try:
        if found is None:
            day = datetime.fromisoformat(text).date()  # a timestamp, with or without a zone
            return day, day
        year, month, day_of_month = (int(part) if part else None for part in found.groups())
        assert year is not None  # the pattern requires it
        if month is None:
            return date(year, 1, 1), date(year, 12, 31)
        if day_of_month is None:
            return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
        day = date(year, month, day_of_month)
        return day, day
    except ValueError:  # month 13, February 30, year 0, or not a date at all
        return None
