"""Garmin wearable aggregation: heart rate, activity, sleep, stress, breathing, SpO2."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from cf_agent.data.aireadi.cgm import cgm_features
from cf_agent.data.aireadi.files import (
    ACTIVITY,
    HEART_RATE,
    OXYGEN,
    RESPIRATION,
    SLEEP,
    STRESS,
    garmin_records,
    point_readings,
)
from cf_agent.data.aireadi.options import AireadiOptions
from cf_agent.data.aireadi.parse import Skip, dig, interval, to_number

# A new sleep period starts after a gap this long; a period counts as a night from this much sleep.
SLEEP_GAP = timedelta(hours=2)
MIN_NIGHT_SLEEP_MIN = 120.0
# Activity intervals longer than this are gaps in the recording (device off), not activity.
MAX_ACTIVITY_INTERVAL = timedelta(hours=1)
INACTIVE_NAMES = frozenset({"", "sedentary"})
SLEEP_STAGES = ("deep", "rem", "light")
# Readings outside these bounds are device codes (negative = off wrist or charging), not values.
VALID_READING = {
    "heart_rate": (25.0, 250.0),
    "stress": (0.0, 100.0),
    "respiratory_rate": (1.0, 60.0),
    "oxygen_saturation": (50.0, 100.0),
}


@dataclass(frozen=True)
class _HeartRate:
    wear_days: frozenset[date]
    resting: float
    mean: float


def _heart_rate(records: list[Any], options: AireadiOptions) -> _HeartRate:
    """Wear days, and resting/mean HR averaged over them.

    A day's resting HR is its lowest clock-hour mean and its mean HR the mean of all its valid
    readings; the lowest hourly mean can never exceed the day's mean, so resting <= mean holds.
    """
    hours: dict[tuple[date, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for when, value in point_readings(records, "heart_rate", VALID_READING["heart_rate"]):
        hour = hours[(when.date(), when.hour)]
        hour[0] += value
        hour[1] += 1
    by_day: dict[date, list[tuple[float, float]]] = defaultdict(list)
    for (day, _hour), (hour_sum, hour_count) in hours.items():
        by_day[day].append((hour_sum, hour_count))
    wear_days = frozenset(d for d, hs in by_day.items() if len(hs) >= options.min_wear_hours)
    if len(wear_days) < options.min_wear_days:
        raise Skip(
            f"heart_rate: {len(wear_days)} valid wear day(s) (>= {options.min_wear_hours} h with "
            f"a heart rate), need {options.min_wear_days}"
        )
    resting = [min(t / n for t, n in by_day[d]) for d in wear_days]
    daily = [sum(t for t, _ in by_day[d]) / sum(n for _, n in by_day[d]) for d in wear_days]
    return _HeartRate(wear_days, statistics.fmean(resting), statistics.fmean(daily))


def _mean_of_daily_means(
    readings: Iterable[tuple[datetime, float]], days: frozenset[date] | None, what: str
) -> float:
    """Mean over days (all, or only `days`) of each day's mean reading."""
    sums: dict[date, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for when, value in readings:
        if days is None or when.date() in days:
            day = sums[when.date()]
            day[0] += value
            day[1] += 1
    if not sums:
        scope = "on the valid wear days" if days is not None else "at all"
        raise Skip(f"{what}: no valid readings {scope}")
    return statistics.fmean(day_sum / day_count for day_sum, day_count in sums.values())


def _activity(records: list[Any], wear_days: frozenset[date]) -> tuple[float, float]:
    """Mean daily steps and active minutes over the wear days.

    Steps are summed per UTC day of each interval's start, as the dataset's own manifest does.
    Active minutes are the minutes of intervals whose activity_name is a movement (anything but
    empty or 'sedentary'); intervals longer than an hour are recording gaps and are not counted.
    """
    steps: dict[date, float] = dict.fromkeys(wear_days, 0.0)
    active: dict[date, float] = dict.fromkeys(wear_days, 0.0)
    recorded = 0
    for record in records:
        span = interval(record, "effective_time_frame")
        if span is None or span[0].date() not in wear_days:
            continue
        recorded += 1
        day = span[0].date()
        count = to_number(dig(record, "base_movement_quantity", "value"))
        if count is not None and count >= 0:
            steps[day] += count
        name = dig(record, "activity_name")
        length = span[1] - span[0]
        moving = isinstance(name, str) and name.strip().lower() not in INACTIVE_NAMES
        if moving and length <= MAX_ACTIVITY_INTERVAL:
            active[day] += length.total_seconds() / 60
    if recorded == 0:
        raise Skip("physical_activity: no records on the valid wear days")
    return statistics.fmean(steps.values()), statistics.fmean(active.values())


def _sleep_segment(record: Any) -> tuple[datetime, datetime, str] | None:
    if not isinstance(record, dict):
        return None
    stage = record.get("sleep_stage_state")
    if not isinstance(stage, str):
        return None
    for frame in ("sleep_stage_time_frame", "effective_time_frame"):
        span = interval(record, frame)
        if span is not None:
            return span[0], span[1], stage.strip().lower()
    return None


def _nights(records: list[Any]) -> list[dict[str, float]]:
    """Minutes per sleep stage for each night.

    Segments closer than SLEEP_GAP belong to one sleep period; a period with at least
    MIN_NIGHT_SLEEP_MIN minutes of deep, REM or light sleep is a night (shorter ones are naps).
    """
    segments = sorted(s for s in map(_sleep_segment, records) if s is not None)
    periods: list[dict[str, float]] = []
    period_end: datetime | None = None
    for start, end, stage in segments:
        if period_end is None or start - period_end > SLEEP_GAP:
            periods.append(dict.fromkeys(SLEEP_STAGES, 0.0))
            period_end = end
        period_end = max(period_end, end)
        if stage in SLEEP_STAGES:
            periods[-1][stage] += (end - start).total_seconds() / 60
    return [p for p in periods if sum(p.values()) >= MIN_NIGHT_SLEEP_MIN]


def _sleep(records: list[Any], options: AireadiOptions) -> dict[str, int]:
    """Mean minutes per stage per night, rounded; the total is their sum, so the sum rule holds."""
    if records and not any(_sleep_segment(r) is not None for r in records):
        raise Skip("sleep: no records with sleep_stage_state and a time interval")
    nights = _nights(records)
    if len(nights) < options.min_nights:
        raise Skip(
            f"sleep: {len(nights)} night(s) with >= {MIN_NIGHT_SLEEP_MIN:g} min of staged sleep, "
            f"need {options.min_nights}"
        )
    minutes = {
        f"sleep_{stage}_min": round(statistics.fmean(n[stage] for n in nights))
        for stage in SLEEP_STAGES
    }
    return {"sleep_total_min": sum(minutes.values()), **minutes}


def wearable_features(root: Path, person_id: str, options: AireadiOptions) -> dict[str, float]:
    """All wearable and CGM features of one participant; one file in memory at a time."""
    heart = _heart_rate(garmin_records(root, person_id, HEART_RATE), options)
    steps, active = _activity(garmin_records(root, person_id, ACTIVITY), heart.wear_days)
    stress = _mean_of_daily_means(
        point_readings(garmin_records(root, person_id, STRESS), "stress", VALID_READING["stress"]),
        heart.wear_days,
        "stress",
    )
    respiration = _mean_of_daily_means(
        point_readings(
            garmin_records(root, person_id, RESPIRATION),
            "respiratory_rate",
            VALID_READING["respiratory_rate"],
        ),
        heart.wear_days,
        "respiratory_rate",
    )
    # Garmin measures SpO2 only during sleep, so every reading is a night reading.
    spo2 = _mean_of_daily_means(
        point_readings(
            garmin_records(root, person_id, OXYGEN),
            "oxygen_saturation",
            VALID_READING["oxygen_saturation"],
        ),
        None,
        "oxygen_saturation",
    )
    return {
        "steps": steps,
        "active_minutes": active,
        "resting_hr": heart.resting,
        "mean_hr": heart.mean,
        **_sleep(garmin_records(root, person_id, SLEEP), options),
        "stress_score": stress,
        "respiration_rate": respiration,
        "spo2_night": spo2,
        **cgm_features(root, person_id, options),
    }
