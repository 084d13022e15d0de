"""Adapter for a local copy of the released AI-READI dataset: the demo cohort's table, real data.

Researchers with a data use agreement hold the files; this turns them into the same columns, spec
and labels as the bundled demo (cf_agent.data.demo), so everything downstream runs unchanged.
It reads the layout documented at docs.aireadi.org (see docs/aireadi.md for what is covered and
what was guessed):

    participants.tsv                                   person_id, study_group, age, ...
    clinical_data/person.csv, measurement.csv          OMOP CDM (sex, HbA1c, BMI, systolic BP)
    wearable_activity_monitor/<modality>/garmin_vivosmart5/<id>/<id>_<kind>.json   Open mHealth
    wearable_blood_glucose/continuous_glucose_monitoring/dexcom_g6/<id>/<id>_DEX.json

A full copy is many GB, so participants are processed one at a time: each JSON file is loaded,
reduced to per-day values and dropped before the next is opened, and each output row is written as
soon as it is complete. Memory is bounded by the largest single file plus a few numbers per
participant for the clinical tables, which are streamed row by row. Participants without enough
data are never dropped silently: each one gets a line with its reason in the log file.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cf_agent.data.demo import FEATURE_NAMES, LABELS, demo_spec
from cf_agent.data.spec import FeatureSpec, SumRule, save_spec
from cf_agent.errors import DataError
from cf_agent.fileio import atomic_path

# participants.tsv study_group -> demo diabetes_stage (docs.aireadi.org, participants file).
STUDY_GROUP_STAGES = {
    "healthy": "none",
    "pre_diabetes_lifestyle_controlled": "prediabetes",
    "oral_medication_and_or_non_insulin_injectable_medication_controlled": "oral_medication",
    "insulin_dependent": "insulin",
}
# OMOP gender_concept_id in person.csv (0 = withheld, as in the public release).
GENDER_CONCEPTS = {"8532": "female", "8507": "male"}
# Dexcom G6 reports readings below 40 and above 400 mg/dL as the strings "Low" and "High".
CGM_LOW, CGM_HIGH = 40.0, 400.0
IN_RANGE = (70.0, 180.0)
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

GARMIN_DEVICE = "garmin_vivosmart5"
CGM_PARTS = ("wearable_blood_glucose", "continuous_glucose_monitoring", "dexcom_g6")
ID_COLUMNS = ("person_id", "participant_id")

ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class _GarminFile:
    """One wearable modality: its folder, its documented file suffix and its list under `body`."""

    folder: str
    suffix: str
    body_key: str


HEART_RATE = _GarminFile("heart_rate", "heartrate", "heart_rate")
ACTIVITY = _GarminFile("physical_activity", "activity", "activity")
STRESS = _GarminFile("stress", "stress", "stress")
RESPIRATION = _GarminFile("respiratory_rate", "respiratoryrate", "breathing")
OXYGEN = _GarminFile("oxygen_saturation", "oxygensaturation", "breathing")
SLEEP = _GarminFile("sleep", "sleep", "sleep")


@dataclass(frozen=True)
class _Measure:
    """How one clinical value is found in measurement.csv: OMOP concept ids or source text."""

    concept_ids: frozenset[str]
    source_pattern: re.Pattern[str]
    what: str


MEASURES = {
    "hba1c": _Measure(frozenset({"3004410"}), re.compile(r"\b(hb)?a1c\b", re.IGNORECASE), "HbA1c"),
    "bmi": _Measure(
        frozenset({"4245997", "3038553"}),
        re.compile(r"\bbmi\b|body mass index", re.IGNORECASE),
        "BMI",
    ),
    "systolic_bp": _Measure(
        frozenset({"3004249"}), re.compile(r"\bsystolic\b", re.IGNORECASE), "systolic BP"
    ),
}


class AireadiOptions(BaseModel):
    """How much data a participant needs, and the label thresholds (docs/aireadi.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_wear_days: int = Field(
        default=3, ge=1, description="Fewest valid wear days (see min_wear_hours) to keep a person."
    )
    min_wear_hours: int = Field(
        default=10,
        ge=1,
        le=24,
        description="A UTC day is a valid wear day when this many clock hours hold a heart rate.",
    )
    min_nights: int = Field(default=2, ge=1, description="Fewest nights of staged sleep.")
    min_cgm_days: int = Field(default=3, ge=1, description="Fewest days of CGM readings.")
    min_cgm_readings_per_day: int = Field(
        default=144,
        ge=1,
        le=288,
        description="Readings a UTC day needs to count as a CGM day (144 = 12 h at 5 min).",
    )
    hba1c_threshold: float = Field(
        default=6.5, description="abnormal_glucose = 1 when HbA1c (%) is at least this."
    )
    tir_threshold: float = Field(
        default=70.0, description="abnormal_glucose = 1 when time in range (%) is below this."
    )
    stress_threshold: float = Field(
        default=50.0, description="high_stress = 1 when the mean stress score is above this."
    )


class AireadiFiles(BaseModel):
    """Where write_aireadi put its outputs, and how many participants went where."""

    model_config = ConfigDict(frozen=True)

    csv: Path = Field(description="The feature table, one row per kept participant.")
    spec: Path = Field(description="Spec for abnormal_glucose: the demo's demo-glucose spec.")
    stress_spec: Path = Field(description="Spec for high_stress: the demo's demo-stress spec.")
    log: Path = Field(description="person_id, action (skipped/clipped) and reason, per line.")
    participants: int = Field(description="Rows read from participants.tsv.")
    written: int = Field(description="Participants written to the table.")
    skipped: int = Field(description="Participants left out, each with a reason in the log.")
    clipped: int = Field(description="Values clipped into the spec's range, each in the log.")


class _Skip(Exception):
    """A participant cannot be used; the message is the reason written to the log."""


@dataclass(frozen=True)
class _Participant:
    """One row of participants.tsv, as text."""

    line: int
    person_id: str
    study_group: str
    age: str


@dataclass
class _Clinical:
    """What the OMOP tables say about one participant."""

    sex: str | None = None
    values: dict[str, list[float]] = field(default_factory=dict)


# --- small parsers ---------------------------------------------------------------------------


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _number(value: Any) -> float | None:
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


def _time(value: Any) -> datetime | None:
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


def _interval(record: dict[str, Any], frame: str) -> tuple[datetime, datetime] | None:
    start = _time(_dig(record, frame, "time_interval", "start_date_time"))
    end = _time(_dig(record, frame, "time_interval", "end_date_time"))
    if start is None or end is None or end < start:
        return None
    return start, end


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return statistics.fmean(items) if items else None


# --- reading files ---------------------------------------------------------------------------


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _garmin_path(root: Path, person_id: str, kind: _GarminFile) -> Path:
    return root / "wearable_activity_monitor" / kind.folder / GARMIN_DEVICE / person_id


def _find_json(folder: Path, documented: str, root: Path, what: str) -> Path:
    """The documented file name, else the one .json file in the participant's folder."""
    path = folder / documented
    if path.is_file():
        return path
    candidates = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise _Skip(
            f"{what}: several .json files in {_relative(folder, root)}, none named {documented}"
        )
    raise _Skip(f"{what}: no file {_relative(path, root)}")


def _load_records(path: Path, root: Path, body_key: str, what: str) -> list[Any]:
    """The list under body.<body_key> of one Open mHealth file; a clear reason when unusable."""
    where = _relative(path, root)
    try:
        with path.open("rb") as handle:
            document = json.load(handle)
    except json.JSONDecodeError as exc:
        raise _Skip(
            f"{what}: malformed JSON in {where} ({exc.msg}; line {exc.lineno}, column {exc.colno})"
        ) from None
    except UnicodeDecodeError:
        raise _Skip(f"{what}: {where} is not UTF-8 JSON") from None
    except OSError as exc:
        raise _Skip(f"{what}: cannot read {where}: {exc.strerror or exc}") from None
    records = _dig(document, "body", body_key)
    if not isinstance(records, list):
        raise _Skip(f"{what}: {where} has no list at body.{body_key}")
    return records


def _garmin_records(root: Path, person_id: str, kind: _GarminFile) -> list[Any]:
    folder = _garmin_path(root, person_id, kind)
    path = _find_json(folder, f"{person_id}_{kind.suffix}.json", root, kind.folder)
    return _load_records(path, root, kind.body_key, kind.folder)


def _point_readings(
    records: list[Any], value_key: str, valid: tuple[float, float]
) -> Iterator[tuple[datetime, float]]:
    """(time, value) of each record with a valid value and effective_time_frame.date_time."""
    low, high = valid
    for record in records:
        value = _number(_dig(record, value_key, "value"))
        when = _time(_dig(record, "effective_time_frame", "date_time"))
        if value is not None and when is not None and low <= value <= high:
            yield when, value


# --- wearable aggregation --------------------------------------------------------------------


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
    for when, value in _point_readings(records, "heart_rate", VALID_READING["heart_rate"]):
        hour = hours[(when.date(), when.hour)]
        hour[0] += value
        hour[1] += 1
    by_day: dict[date, list[tuple[float, float]]] = defaultdict(list)
    for (day, _hour), (hour_sum, hour_count) in hours.items():
        by_day[day].append((hour_sum, hour_count))
    wear_days = frozenset(d for d, hs in by_day.items() if len(hs) >= options.min_wear_hours)
    if len(wear_days) < options.min_wear_days:
        raise _Skip(
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
        raise _Skip(f"{what}: no valid readings {scope}")
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
        span = _interval(record, "effective_time_frame")
        if span is None or span[0].date() not in wear_days:
            continue
        recorded += 1
        day = span[0].date()
        count = _number(_dig(record, "base_movement_quantity", "value"))
        if count is not None and count >= 0:
            steps[day] += count
        name = _dig(record, "activity_name")
        length = span[1] - span[0]
        moving = isinstance(name, str) and name.strip().lower() not in INACTIVE_NAMES
        if moving and length <= MAX_ACTIVITY_INTERVAL:
            active[day] += length.total_seconds() / 60
    if recorded == 0:
        raise _Skip("physical_activity: no records on the valid wear days")
    return statistics.fmean(steps.values()), statistics.fmean(active.values())


def _sleep_segment(record: Any) -> tuple[datetime, datetime, str] | None:
    if not isinstance(record, dict):
        return None
    stage = record.get("sleep_stage_state")
    if not isinstance(stage, str):
        return None
    for frame in ("sleep_stage_time_frame", "effective_time_frame"):
        span = _interval(record, frame)
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
        raise _Skip("sleep: no records with sleep_stage_state and a time interval")
    nights = _nights(records)
    if len(nights) < options.min_nights:
        raise _Skip(
            f"sleep: {len(nights)} night(s) with >= {MIN_NIGHT_SLEEP_MIN:g} min of staged sleep, "
            f"need {options.min_nights}"
        )
    minutes = {
        f"sleep_{stage}_min": round(statistics.fmean(n[stage] for n in nights))
        for stage in SLEEP_STAGES
    }
    return {"sleep_total_min": sum(minutes.values()), **minutes}


# --- CGM -------------------------------------------------------------------------------------


def _glucose_reading(record: Any) -> tuple[datetime, float] | None:
    if not isinstance(record, dict):
        return None
    event = record.get("event_type")
    if isinstance(event, str) and event.strip().upper() not in ("", "EGV"):
        return None
    raw = _dig(record, "blood_glucose", "value")
    marker = raw.strip().lower() if isinstance(raw, str) else None
    value = CGM_LOW if marker == "low" else CGM_HIGH if marker == "high" else _number(raw)
    when = _time(_dig(record, "effective_time_frame", "time_interval", "start_date_time"))
    if when is None:
        when = _time(_dig(record, "effective_time_frame", "date_time"))
    if value is None or value <= 0 or when is None:
        return None
    return when, value


def _cgm(root: Path, person_id: str, options: AireadiOptions) -> dict[str, float]:
    """Mean glucose, % of readings in 70-180 mg/dL and CV (population SD / mean) of all readings."""
    folder = root.joinpath(*CGM_PARTS, person_id)
    path = _find_json(folder, f"{person_id}_DEX.json", root, "cgm")
    readings = [r for r in map(_glucose_reading, _load_records(path, root, "cgm", "cgm")) if r]
    per_day: dict[date, int] = defaultdict(int)
    for when, _value in readings:
        per_day[when.date()] += 1
    days = sum(1 for n in per_day.values() if n >= options.min_cgm_readings_per_day)
    if days < options.min_cgm_days:
        raise _Skip(
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


def _wearable_features(root: Path, person_id: str, options: AireadiOptions) -> dict[str, float]:
    """All wearable and CGM features of one participant; one file in memory at a time."""
    heart = _heart_rate(_garmin_records(root, person_id, HEART_RATE), options)
    steps, active = _activity(_garmin_records(root, person_id, ACTIVITY), heart.wear_days)
    stress = _mean_of_daily_means(
        _point_readings(
            _garmin_records(root, person_id, STRESS), "stress", VALID_READING["stress"]
        ),
        heart.wear_days,
        "stress",
    )
    respiration = _mean_of_daily_means(
        _point_readings(
            _garmin_records(root, person_id, RESPIRATION),
            "respiratory_rate",
            VALID_READING["respiratory_rate"],
        ),
        heart.wear_days,
        "respiratory_rate",
    )
    # Garmin measures SpO2 only during sleep, so every reading is a night reading.
    spo2 = _mean_of_daily_means(
        _point_readings(
            _garmin_records(root, person_id, OXYGEN),
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
        **_sleep(_garmin_records(root, person_id, SLEEP), options),
        "stress_score": stress,
        "respiration_rate": respiration,
        "spo2_night": spo2,
        **_cgm(root, person_id, options),
    }


# --- clinical tables -------------------------------------------------------------------------


def _open_table(path: Path, root: Path, delimiter: str) -> tuple[TextIO, Iterator[list[str]]]:
    if not path.is_file():
        raise DataError(
            f"AI-READI file not found: {_relative(path, root)} under {root}",
            "pass --root the dataset folder that holds participants.tsv and clinical_data/",
        )
    handle = path.open(newline="", encoding="utf-8-sig")
    return handle, csv.reader(handle, delimiter=delimiter)


def _columns(header: list[str], wanted: Iterable[str], path: Path) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    missing = [w for w in wanted if w not in names]
    if missing:
        raise DataError(
            f"{path} lacks column(s) {', '.join(missing)}",
            "point --root at an unmodified AI-READI release (OMOP CDM tables, participants.tsv)",
        )
    return {w: names.index(w) for w in wanted}


def _read_participants(root: Path) -> list[_Participant]:
    """Every non-blank row of participants.tsv (the index of the release), in file order."""
    path = root / "participants.tsv"
    handle, rows = _open_table(path, root, "\t")
    with handle:
        header = [h.strip().lower() for h in next(rows, [])]
        id_column = next((c for c in ID_COLUMNS if c in header), ID_COLUMNS[0])
        at = _columns(header, (id_column, "study_group", "age"), path)
        participants = []
        for line, row in enumerate(rows, start=2):
            if not any(cell.strip() for cell in row):
                continue
            cells = [*row, *[""] * (len(header) - len(row))]
            participants.append(
                _Participant(
                    line, cells[at[id_column]].strip(), cells[at["study_group"]], cells[at["age"]]
                )
            )
        return participants


def _read_clinical(root: Path, wanted: set[str]) -> dict[str, _Clinical]:
    """Sex from person.csv and HbA1c, BMI, systolic BP from measurement.csv, streamed."""
    clinical: dict[str, _Clinical] = defaultdict(_Clinical)
    person = root / "clinical_data" / "person.csv"
    handle, rows = _open_table(person, root, ",")
    with handle:
        at = _columns(next(rows, []), ("person_id", "gender_concept_id"), person)
        for row in rows:
            pid = row[at["person_id"]].strip() if len(row) > at["person_id"] else ""
            if pid in wanted:
                clinical[pid].sex = GENDER_CONCEPTS.get(row[at["gender_concept_id"]].strip())
    measurement = root / "clinical_data" / "measurement.csv"
    handle, rows = _open_table(measurement, root, ",")
    columns = ("person_id", "measurement_concept_id", "measurement_source_value", "value_as_number")
    with handle:
        at = _columns(next(rows, []), columns, measurement)
        width = max(at.values())
        for row in rows:
            if len(row) <= width or row[at["person_id"]].strip() not in wanted:
                continue
            name = _measure_name(
                row[at["measurement_concept_id"]], row[at["measurement_source_value"]]
            )
            value = _number(row[at["value_as_number"]])
            if name is not None and value is not None:
                clinical[row[at["person_id"]].strip()].values.setdefault(name, []).append(value)
    return clinical


def _measure_name(concept_id: str, source_value: str) -> str | None:
    concept = concept_id.strip()
    for name, measure in MEASURES.items():
        if concept in measure.concept_ids or measure.source_pattern.search(source_value):
            return name
    return None


def _clinical_features(participant: _Participant, clinical: _Clinical) -> dict[str, Any]:
    if not participant.person_id:
        raise _Skip(f"participants.tsv: line {participant.line} has no person_id")
    stage = STUDY_GROUP_STAGES.get(participant.study_group.strip())
    if stage is None:
        raise _Skip(f"participants.tsv: unknown study_group {participant.study_group!r}")
    age = _number(participant.age)
    if age is None:
        raise _Skip(f"participants.tsv: no numeric age ({participant.age!r})")
    if clinical.sex is None:
        raise _Skip(
            "person.csv: sex not recorded (gender_concept_id is not 8532 or 8507; sex is a "
            "controlled-access variable, withheld in the public release)"
        )
    values: dict[str, Any] = {"age": age, "sex": clinical.sex, "diabetes_stage": stage}
    for name, measure in MEASURES.items():
        mean = _mean(clinical.values.get(name, ()))
        if mean is None:
            raise _Skip(f"measurement.csv: no {measure.what} value")
        values[name] = mean
    return values


# --- rows ------------------------------------------------------------------------------------


def _fit_to_spec(values: dict[str, Any], spec: FeatureSpec) -> tuple[dict[str, Any], list[str]]:
    """Round like the demo and clip out-of-range values, each clip noted.

    Features in a sum rule (the sleep stages and their total) are never clipped, since clipping
    one would break the rule: a participant with such a value is skipped instead.
    """
    summed = {name for rule in spec.rules if isinstance(rule, SumRule) for name in rule.features}
    row: dict[str, Any] = {}
    notes: list[str] = []
    for feature in spec.features:
        value = values[feature.name]
        if feature.is_numeric:
            value = round(value) if feature.kind == "int" else round(value, 1)
            low, high = float(feature.low or 0), float(feature.high or 0)
            if not low <= value <= high:
                shown = f"{feature.name} {value:g} {feature.unit} is outside {low:g}-{high:g}"
                if feature.name in summed:
                    raise _Skip(f"{shown}; not clipped, it must keep the sleep stages' sum")
                value = min(max(value, low), high)
                value = round(value) if feature.kind == "int" else value
                notes.append(f"{shown}; clipped to {value:g}")
        row[feature.name] = value
    return row, notes


def _labels(row: dict[str, Any], options: AireadiOptions) -> dict[str, int]:
    """The two demo labels from the row's own values (docs/aireadi.md, 'Labels')."""
    abnormal = (
        row["hba1c"] >= options.hba1c_threshold or row["time_in_range"] < options.tir_threshold
    )
    return {
        "abnormal_glucose": int(abnormal),
        "high_stress": int(row["stress_score"] > options.stress_threshold),
    }


def _participant_row(
    root: Path, participant: _Participant, clinical: _Clinical, options: AireadiOptions
) -> tuple[dict[str, Any], list[str]]:
    values = _clinical_features(participant, clinical)
    values.update(_wearable_features(root, participant.person_id, options))
    row, notes = _fit_to_spec(values, demo_spec("glucose"))
    return {**row, **_labels(row, options)}, notes


def _process(
    root: Path,
    participants: list[_Participant],
    options: AireadiOptions,
    write_row: Callable[[list[Any]], object],
    log: list[tuple[str, str, str]],
    progress: ProgressCallback | None,
) -> int:
    """Write one row per usable participant; log every skip and clip. Returns rows written."""
    clinical = _read_clinical(root, {p.person_id for p in participants})
    seen: set[str] = set()
    written = 0
    for done, participant in enumerate(participants, start=1):
        pid = participant.person_id
        try:
            if pid and pid in seen:
                raise _Skip(f"participants.tsv: duplicate person_id on line {participant.line}")
            seen.add(pid)
            row, notes = _participant_row(
                root, participant, clinical.get(pid, _Clinical()), options
            )
        except _Skip as reason:
            log.append((pid, "skipped", str(reason)))
        else:
            write_row([pid, *(row[name] for name in (*FEATURE_NAMES, *LABELS))])
            log.extend((pid, "clipped", note) for note in notes)
            written += 1
        if progress is not None:
            progress(done, len(participants), pid)
    return written


def _write_log(path: Path, log: list[tuple[str, str, str]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["person_id", "action", "reason"])
        writer.writerows(log)


def write_aireadi(
    root: Path | str,
    out_dir: Path | str,
    options: AireadiOptions | None = None,
    progress: ProgressCallback | None = None,
) -> AireadiFiles:
    """Write aireadi.csv, its two specs (the demo's) and aireadi-log.csv into `out_dir`.

    The table has the demo cohort's columns: person_id, the 20 features, abnormal_glucose and
    high_stress. Every file is written atomically. Raises DataError when the layout is missing
    a required file or no participant has enough data (the log still says why, per person).
    """
    root, out_dir = Path(root), Path(out_dir)
    options = options or AireadiOptions()
    files = {
        "csv": out_dir / "aireadi.csv",
        "spec": out_dir / "aireadi.toml",
        "stress_spec": out_dir / "aireadi-stress.toml",
        "log": out_dir / "aireadi-log.csv",
    }
    participants = _read_participants(root)
    log: list[tuple[str, str, str]] = []
    try:
        with atomic_path(files["csv"]) as tmp, tmp.open("w", newline="", encoding="utf-8") as out:
            table = csv.writer(out)
            table.writerow(["person_id", *FEATURE_NAMES, *LABELS])
            written = _process(root, participants, options, table.writerow, log, progress)
            if written == 0:
                raise DataError(
                    f"none of the {len(participants)} participants in {root / 'participants.tsv'} "
                    "had enough usable data",
                    f"read the reasons in {files['log']}; lower --min-wear-days, --min-nights "
                    "or --min-cgm-days if the thresholds are too strict",
                )
    finally:
        _write_log(files["log"], log)
    save_spec(demo_spec("glucose"), files["spec"])
    save_spec(demo_spec("stress"), files["stress_spec"])
    return AireadiFiles(
        **files,
        participants=len(participants),
        written=written,
        skipped=sum(1 for _, action, _ in log if action == "skipped"),
        clipped=sum(1 for _, action, _ in log if action == "clipped"),
    )


@contextlib.contextmanager
def aireadi_progress(console: Console) -> Iterator[ProgressCallback]:
    """A rich progress bar over participants, as a callback for write_aireadi."""
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("AI-READI participants", total=None)

        def advance(done: int, total: int, person_id: str) -> None:
            bar.update(task, completed=done, total=total, description=f"participant {person_id}")

        yield advance
