"""Finding and loading one participant's Open mHealth JSON files (one in memory at a time)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cf_agent.data.aireadi.parse import Skip, dig, to_number, utc_time

GARMIN_DEVICE = "garmin_vivosmart5"
CGM_PARTS = ("wearable_blood_glucose", "continuous_glucose_monitoring", "dexcom_g6")


@dataclass(frozen=True)
class GarminFile:
    """One wearable modality: its folder, its documented file suffix and its list under `body`."""

    folder: str
    suffix: str
    body_key: str


HEART_RATE = GarminFile("heart_rate", "heartrate", "heart_rate")
ACTIVITY = GarminFile("physical_activity", "activity", "activity")
STRESS = GarminFile("stress", "stress", "stress")
RESPIRATION = GarminFile("respiratory_rate", "respiratoryrate", "breathing")
OXYGEN = GarminFile("oxygen_saturation", "oxygensaturation", "breathing")
SLEEP = GarminFile("sleep", "sleep", "sleep")


def relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def garmin_path(root: Path, person_id: str, kind: GarminFile) -> Path:
    return root / "wearable_activity_monitor" / kind.folder / GARMIN_DEVICE / person_id


def find_json(folder: Path, documented: str, root: Path, what: str) -> Path:
    """The documented file name, else the one .json file in the participant's folder."""
    path = folder / documented
    if path.is_file():
        return path
    candidates = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise Skip(
            f"{what}: several .json files in {relative(folder, root)}, none named {documented}"
        )
    raise Skip(f"{what}: no file {relative(path, root)}")


def load_records(path: Path, root: Path, body_key: str, what: str) -> list[Any]:
    """The list under body.<body_key> of one Open mHealth file; a clear reason when unusable."""
    where = relative(path, root)
    try:
        with path.open("rb") as handle:
            document = json.load(handle)
    except json.JSONDecodeError as exc:
        raise Skip(
            f"{what}: malformed JSON in {where} ({exc.msg}; line {exc.lineno}, column {exc.colno})"
        ) from None
    except UnicodeDecodeError:
        raise Skip(f"{what}: {where} is not UTF-8 JSON") from None
    except OSError as exc:
        raise Skip(f"{what}: cannot read {where}: {exc.strerror or exc}") from None
    records = dig(document, "body", body_key)
    if not isinstance(records, list):
        raise Skip(f"{what}: {where} has no list at body.{body_key}")
    return records


def garmin_records(root: Path, person_id: str, kind: GarminFile) -> list[Any]:
    folder = garmin_path(root, person_id, kind)
    path = find_json(folder, f"{person_id}_{kind.suffix}.json", root, kind.folder)
    return load_records(path, root, kind.body_key, kind.folder)


def point_readings(
    records: list[Any], value_key: str, valid: tuple[float, float]
) -> Iterator[tuple[datetime, float]]:
    """(time, value) of each record with a valid value and effective_time_frame.date_time."""
    low, high = valid
    for record in records:
        value = to_number(dig(record, value_key, "value"))
        when = utc_time(dig(record, "effective_time_frame", "date_time"))
        if value is not None and when is not None and low <= value <= high:
            yield when, value
