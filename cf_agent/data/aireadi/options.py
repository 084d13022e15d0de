"""What write_aireadi takes and returns."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

# Called after each participant with (done, total, person_id); the CLI draws a progress bar.
ProgressCallback = Callable[[int, int, str], None]


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
