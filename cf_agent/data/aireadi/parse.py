"""Small parsers shared by the AI-READI readers, and the one reason to skip a participant."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any


class Skip(Exception):
    """A participant cannot be used; the message is the reason written to the log."""


def dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def to_number(value: Any) -> float | None:
    """A finite float from a JSON or CSV value; None for text, blanks, booleans and NaN."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def utc_time(value: Any) -> datetime | None:
    """Naive UTC time from ISO text ('...Z', '+hh:mm' or no zone, which the docs say is UTC)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        # 'Z' (the documented form) is UTC already: parse it naive and skip the conversion.
        parsed = datetime.fromisoformat(text[:-1] if text.endswith("Z") else text)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def interval(record: dict[str, Any], frame: str) -> tuple[datetime, datetime] | None:
    start = utc_time(dig(record, frame, "time_interval", "start_date_time"))
    end = utc_time(dig(record, frame, "time_interval", "end_date_time"))
    if start is None or end is None or end < start:
        return None
    return start, end


def mean_or_none(values: Iterable[float]) -> float | None:
    items = list(values)
    return statistics.fmean(items) if items else None
