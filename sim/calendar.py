"""Calendar months as integers.

A month is stored as ``year * 12 + (month - 1)`` so that differences are month counts and
ranges are plain ``range`` objects. Strings are ISO ``YYYY-MM`` (a day part is accepted and
ignored when parsing dates from data files, but it must be a real day of that month:
``2029-02-31`` is refused).
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


def parse_month(text: str) -> int:
    """Parse ``YYYY-MM`` (or ``YYYY-MM-DD``) into a month index; raise ValueError if malformed."""
    match = _MONTH_RE.match(text.strip())
    if not match:
        raise ValueError(f"expected a month as YYYY-MM, got {text!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 01..12, got {text!r}")
    if match.group(3) is not None:
        try:
            dt.date(year, month, int(match.group(3)))
        except ValueError:
            raise ValueError(f"no such day: {text!r}") from None
    return year * 12 + month - 1


def format_month(index: int) -> str:
    """Format a month index as ``YYYY-MM``."""
    year, month0 = divmod(int(index), 12)
    return f"{year:04d}-{month0 + 1:02d}"


def month_labels(start: int, n_months: int) -> list[str]:
    """``YYYY-MM`` labels for ``n_months`` consecutive months from ``start``."""
    return [format_month(start + i) for i in range(n_months)]


def to_datetime64(start: int, n_months: int) -> np.ndarray:
    """First day of each month as ``datetime64[D]``, for plotting time axes."""
    return np.array([f"{m}-01" for m in month_labels(start, n_months)], dtype="datetime64[D]")
