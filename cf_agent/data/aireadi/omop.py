"""participants.tsv and the OMOP clinical tables, streamed row by row."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cf_agent.data.aireadi.files import relative
from cf_agent.data.aireadi.parse import Skip, mean_or_none, to_number
from cf_agent.errors import DataError

# participants.tsv study_group -> demo diabetes_stage (docs.aireadi.org, participants file).
STUDY_GROUP_STAGES = {
    "healthy": "none",
    "pre_diabetes_lifestyle_controlled": "prediabetes",
    "oral_medication_and_or_non_insulin_injectable_medication_controlled": "oral_medication",
    "insulin_dependent": "insulin",
}
# OMOP gender_concept_id in person.csv (0 = withheld, as in the public release).
GENDER_CONCEPTS = {"8532": "female", "8507": "male"}
ID_COLUMNS = ("person_id", "participant_id")


@dataclass(frozen=True)
class Measure:
    """How one clinical value is found in measurement.csv: OMOP concept ids or source text."""

    concept_ids: frozenset[str]
    source_pattern: re.Pattern[str]
    what: str


MEASURES = {
    "hba1c": Measure(frozenset({"3004410"}), re.compile(r"\b(hb)?a1c\b", re.IGNORECASE), "HbA1c"),
    "bmi": Measure(
        frozenset({"4245997", "3038553"}),
        re.compile(r"\bbmi\b|body mass index", re.IGNORECASE),
        "BMI",
    ),
    "systolic_bp": Measure(
        frozenset({"3004249"}), re.compile(r"\bsystolic\b", re.IGNORECASE), "systolic BP"
    ),
}


@dataclass(frozen=True)
class Participant:
    """One row of participants.tsv, as text."""

    line: int
    person_id: str
    study_group: str
    age: str


@dataclass
class Clinical:
    """What the OMOP tables say about one participant."""

    sex: str | None = None
    values: dict[str, list[float]] = field(default_factory=dict)


def _open_table(path: Path, root: Path, delimiter: str) -> tuple[TextIO, Iterator[list[str]]]:
    if not path.is_file():
        raise DataError(
            f"AI-READI file not found: {relative(path, root)} under {root}",
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


def read_participants(root: Path) -> list[Participant]:
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
                Participant(
                    line, cells[at[id_column]].strip(), cells[at["study_group"]], cells[at["age"]]
                )
            )
        return participants


def read_clinical(root: Path, wanted: set[str]) -> dict[str, Clinical]:
    """Sex from person.csv and HbA1c, BMI, systolic BP from measurement.csv, streamed."""
    clinical: dict[str, Clinical] = defaultdict(Clinical)
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
            value = to_number(row[at["value_as_number"]])
            if name is not None and value is not None:
                clinical[row[at["person_id"]].strip()].values.setdefault(name, []).append(value)
    return clinical


def _measure_name(concept_id: str, source_value: str) -> str | None:
    concept = concept_id.strip()
    for name, measure in MEASURES.items():
        if concept in measure.concept_ids or measure.source_pattern.search(source_value):
            return name
    return None


def clinical_features(participant: Participant, clinical: Clinical) -> dict[str, Any]:
    if not participant.person_id:
        raise Skip(f"participants.tsv: line {participant.line} has no person_id")
    stage = STUDY_GROUP_STAGES.get(participant.study_group.strip())
    if stage is None:
        raise Skip(f"participants.tsv: unknown study_group {participant.study_group!r}")
    age = to_number(participant.age)
    if age is None:
        raise Skip(f"participants.tsv: no numeric age ({participant.age!r})")
    if clinical.sex is None:
        raise Skip(
            "person.csv: sex not recorded (gender_concept_id is not 8532 or 8507; sex is a "
            "controlled-access variable, withheld in the public release)"
        )
    values: dict[str, Any] = {"age": age, "sex": clinical.sex, "diabetes_stage": stage}
    for name, measure in MEASURES.items():
        mean = mean_or_none(clinical.values.get(name, ()))
        if mean is None:
            raise Skip(f"measurement.csv: no {measure.what} value")
        values[name] = mean
    return values
