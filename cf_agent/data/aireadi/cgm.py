"""Dexcom G6 CGM: mean glucose, time in range and glucose variability."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

from cf_agent.data.aireadi.files import CGM_PARTS, find_json, load_records
from cf_agent.data.aireadi.options import AireadiOptions
from cf_agent.data.aireadi.parse import Skip, dig, to_number, utc_time

# Dexcom G6 reports readings below 40 and above 400 mg/dL as the strings "Low" and "High".
CGM_LOW, CGM_HIGH = 40.0, 400.0
IN_RANGE = (70.0, 180.0)


def _glucose_reading(record: Any) -> tuple[datetime, float] | None:
    if not isinstance(record, dict):
        return None
    event = record.get("event_type")
    if isinstance(event, str) and event.strip().upper() not in ("", "EGV"):
        return None
    raw = dig(record, "blood_glucose", "value")
    marker = raw.strip().lower() if isinstance(raw, str) else None
    value = CGM_LOW if marker == "low" else CGM_HIGH if marker == "high" else to_number(raw)
    when = utc_time(dig(record, "effective_time_frame", "time_interval", "start_date_time"))
    if when is None:
        when = utc_time(dig(record, "effective_time_frame", "date_time"))
    if value is None or value <= 0 or when is None:
        return None
    return when, value


def cgm_features(root: Path, person_id: str, options: AireadiOptions) -> dict[str, float]:
    """Mean glucose, % of readings in 70-180 mg/dL and CV (population SD / mean) of all readings."""
    folder = root.joinpath(*CGM_PARTS, person_id)
    path = find_json(folder, f"{person_id}_DEX.json", root, "cgm")
    readings = [r for r in map(_glucose_reading, load_records(path, root, "cgm", "cgm")) if r]
    per_day: dict[date, int] = defaultdict(int)
    for when, _value in readings:
        per_day[when.date()] += 1
    days = sum(1 for n in per_day.values() if n >= options.min_cgm_readings_per_day)
    if days < options.min_cgm_days:
        raise Skip(
            f"cgm: {days} day(s) with >= {options.min_cgm_readings_per_day} readings, "
            f"need {options.min_cgm_days}"
        )
    values = [v for _, v in readings]
    mean = statistics.fmean(values)
    low, high = IN_RANGE
    return {
        "mean_glucose": mean,
        "time_in_range": 100 * sum(low <= v <= high for v in values) / len(values),
        "glucose_cv": 100 * statistics.pstdev(values) / mean,
    }
