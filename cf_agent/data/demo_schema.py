"""The demo cohort's schema, read from one packaged file: demo_schema.toml.

The demo generator (demo.py) draws these columns and the AI-READI adapter (aireadi/) fills them
from real data; both take the schema from here, so the two cannot drift apart.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files
from typing import Literal

from cf_agent.data.spec import Feature, FeatureSpec, spec_from_dict
from cf_agent.errors import SpecError

SCHEMA_FILE = "demo_schema.toml"
LABELS = ("abnormal_glucose", "high_stress")


@cache
def _glucose_spec() -> FeatureSpec:
    text = files("cf_agent.data").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return spec_from_dict(tomllib.loads(text), f"cf_agent/data/{SCHEMA_FILE}")


def demo_spec(target: Literal["glucose", "stress"] = "glucose") -> FeatureSpec:
    """The spec for one of the demo's two tasks; the desired class is always 0 (the healthy one)."""
    if target not in ("glucose", "stress"):
        raise SpecError(
            f"unknown demo target {target!r}", "use 'glucose' (abnormal_glucose) or 'stress'"
        )
    glucose = _glucose_spec()
    if target == "glucose":
        return glucose
    return FeatureSpec(
        name="demo-stress",
        label="high_stress",
        classes={0: "low stress", 1: "high stress"},
        desired_class=0,
        features=tuple(f for f in glucose.features if f.name != "stress_score"),
        rules=glucose.rules,
        other_columns=("stress_score", "abnormal_glucose"),
    )


FEATURES: tuple[Feature, ...] = tuple(_glucose_spec().features)
FEATURE_NAMES = tuple(f.name for f in FEATURES)
STAGES = tuple(_glucose_spec().feature("diabetes_stage").categories or ())
SEXES = tuple(_glucose_spec().feature("sex").categories or ())
