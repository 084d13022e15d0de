"""One row per usable participant, written as soon as it is complete; the log and the specs."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cf_agent.data.aireadi.omop import (
    Clinical,
    Participant,
    clinical_features,
    read_clinical,
    read_participants,
)
from cf_agent.data.aireadi.options import AireadiFiles, AireadiOptions, ProgressCallback
from cf_agent.data.aireadi.parse import Skip
from cf_agent.data.aireadi.wearable import wearable_features
from cf_agent.data.demo_schema import FEATURE_NAMES, LABELS, demo_spec
from cf_agent.data.spec import FeatureSpec, SumRule, save_spec
from cf_agent.errors import DataError
from cf_agent.fileio import atomic_path


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
                    raise Skip(f"{shown}; not clipped, it must keep the sleep stages' sum")
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
    root: Path, participant: Participant, clinical: Clinical, options: AireadiOptions
) -> tuple[dict[str, Any], list[str]]:
    values = clinical_features(participant, clinical)
    values.update(wearable_features(root, participant.person_id, options))
    row, notes = _fit_to_spec(values, demo_spec("glucose"))
    return {**row, **_labels(row, options)}, notes


def _process(
    root: Path,
    participants: list[Participant],
    options: AireadiOptions,
    write_row: Callable[[list[Any]], object],
    log: list[tuple[str, str, str]],
    progress: ProgressCallback | None,
) -> int:
    """Write one row per usable participant; log every skip and clip. Returns rows written."""
    clinical = read_clinical(root, {p.person_id for p in participants})
    seen: set[str] = set()
    written = 0
    for done, participant in enumerate(participants, start=1):
        pid = participant.person_id
        try:
            if pid and pid in seen:
                raise Skip(f"participants.tsv: duplicate person_id on line {participant.line}")
            seen.add(pid)
            row, notes = _participant_row(root, participant, clinical.get(pid, Clinical()), options)
        except Skip as reason:
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
    participants = read_participants(root)
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
