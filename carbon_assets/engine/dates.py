"""Calendar dates as publishers and clients write them (one list of accepted layouts)."""

from __future__ import annotations

import datetime as dt

DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y")
DATE_HINT = "YYYY-MM-DD or DD/MM/YYYY"


def parse_date(text: str) -> dt.date:
    """The date in ``text``; ValueError when no accepted layout matches."""
    s = text.strip()
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(s, fmt).date()
        except ValueError:
            continue  # try the next layout
    raise ValueError(f"not a date (expected {DATE_HINT}): {text!r}")
