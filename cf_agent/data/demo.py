"""The bundled demo cohort: a seeded structural causal model (SCM) shaped like AI-READI.

AI-READI enrols people aged 40+ balanced across four type-2-diabetes stages and records a Garmin
wearable, a Dexcom CGM and clinical labs. The real data needs a data-use agreement, so the demo
simulates a cohort with the same columns from documented structural equations
(docs/demo-cohort.md): anyone can run cf-agent end to end, and because the causal graph is known,
counterfactuals can be judged against it. Lifestyle (steps, activity, sleep, stress) causally
drives glycaemia, so "walk more, sleep more" counterfactuals are real levers, not artefacts.

The columns, ranges and rules are the packaged schema (demo_schema.toml, via demo_schema.py),
which the AI-READI adapter reads too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cf_agent.data.demo_schema import FEATURE_NAMES, FEATURES, LABELS, SEXES, STAGES, demo_spec
from cf_agent.data.spec import save_spec
from cf_agent.errors import DataError
from cf_agent.fileio import atomic_path

__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "LABELS",
    "DemoFiles",
    "demo_spec",
    "generate_demo_cohort",
    "write_demo",
]

MIN_ROWS = 50
# Fixed label thresholds on the latent scales (not data quantiles): the labels are part of the SCM.
GLUCOSE_THRESHOLD = 0.9
STRESS_THRESHOLD = 0.7
# Glycaemic load by diabetes stage (index into STAGES).
_STAGE_LOAD = np.array([-1.2, -0.6, 0.5, 1.4])


class DemoFiles(BaseModel):
    """Where write_demo put the cohort and its two specs."""

    model_config = ConfigDict(frozen=True)

    csv: Path = Field(description="The cohort, one row per person (demo.csv).")
    spec: Path = Field(description="Spec for predicting abnormal_glucose (demo.toml).")
    stress_spec: Path = Field(description="Spec for predicting high_stress (demo-stress.toml).")


def _clip_round(values: np.ndarray, low: float, high: float, decimals: int = 1) -> np.ndarray:
    return np.round(np.clip(values, low, high), decimals)


def _clip_int(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.rint(np.clip(values, low, high)).astype(np.int64)


def _softplus(x: np.ndarray) -> np.ndarray:
    """Smooth floor: HbA1c and CV barely move in normoglycaemia, then rise linearly."""
    return np.logaddexp(0.0, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass(frozen=True)
class _Person:
    """Exogenous causes: demographics and the latent stress level (unobserved)."""

    age: np.ndarray
    female: np.ndarray
    stage: np.ndarray
    stress: np.ndarray

    @property
    def age_c(self) -> np.ndarray:
        """Age in decades from 60, the scale the equations use."""
        return (self.age - 60) / 10


def _draw_person(rng: np.random.Generator, n: int) -> _Person:
    age = _clip_int(40 + 45 * rng.beta(1.6, 2.4, n), 40, 90)
    female = rng.random(n) < 0.55
    stage = rng.integers(0, len(STAGES), n)
    age_c = (age - 60) / 10
    stress = -0.2 * age_c + 0.15 * female + rng.normal(0, 1, n)
    return _Person(age=age, female=female, stage=stage, stress=stress)


def _draw_body_and_activity(rng: np.random.Generator, p: _Person) -> dict[str, np.ndarray]:
    n = len(p.age)
    bmi = _clip_round(26 * np.exp(0.055 * p.stage + rng.normal(0, 0.15, n)), 16, 58)
    steps = _clip_int(
        7500 * np.exp(-0.15 * p.age_c - 0.03 * (bmi - 28) + rng.normal(0, 0.5, n)), 300, 38000
    )
    active = _clip_int(0.006 * steps * np.exp(rng.normal(0, 0.35, n)), 0, 390)
    return {"bmi": bmi, "steps": steps, "active_minutes": active}


def _draw_sleep_and_stress(rng: np.random.Generator, p: _Person) -> dict[str, np.ndarray]:
    n = len(p.age)
    stress_score = _clip_int(38 + 11 * p.stress + rng.normal(0, 5, n), 0, 100)
    total = _clip_int(420 - 8 * p.age_c - 20 * p.stress + rng.normal(0, 45, n), 150, 660)
    deep_share = np.clip(
        0.17 - 0.02 * p.age_c - 0.01 * p.stress + rng.normal(0, 0.03, n), 0.05, 0.3
    )
    rem_share = np.clip(0.22 - 0.015 * p.stress + rng.normal(0, 0.03, n), 0.08, 0.3)
    deep = np.rint(total * deep_share).astype(np.int64)
    rem = np.rint(total * rem_share).astype(np.int64)
    return {
        "sleep_total_min": total,
        "sleep_deep_min": deep,
        "sleep_rem_min": rem,
        "sleep_light_min": total - deep - rem,
        "stress_score": stress_score,
    }


def _draw_cardiorespiratory(
    rng: np.random.Generator, p: _Person, body: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    n = len(p.age)
    bmi, steps = body["bmi"], body["steps"]
    resting_hr = _clip_round(
        64
        - 5 * np.log(steps / 7500)
        + 0.35 * (bmi - 28)
        + 3 * p.stress
        + 3 * p.female
        + rng.normal(0, 5, n),
        40,
        110,
    )
    activity_hr = _clip_round(8 + 0.12 * body["active_minutes"] + rng.normal(0, 3, n), 2, 45)
    return {
        "resting_hr": resting_hr,
        # Both terms are already rounded and activity_hr >= 2, so mean_hr >= resting_hr exactly.
        "mean_hr": np.round(resting_hr + activity_hr, 1),
        "respiration_rate": _clip_round(
            14.5 + p.stress + 0.05 * (bmi - 28) + rng.normal(0, 1.2, n), 8, 26
        ),
        "spo2_night": _clip_round(96.5 - 0.12 * (bmi - 28) + rng.normal(0, 1.0, n), 85, 100),
        "systolic_bp": _clip_round(
            126
            + 5 * p.age_c
            + 0.7 * (bmi - 28)
            + 4 * p.stress
            - 3 * p.female
            + rng.normal(0, 11, n),
            85,
            210,
            0,
        ),
    }


def _glycaemic_load(
    rng: np.random.Generator, p: _Person, body: dict[str, np.ndarray], sleep_total: np.ndarray
) -> np.ndarray:
    """Latent glycaemic load g: diabetes stage dominates, lifestyle moves it."""
    return (
        _STAGE_LOAD[p.stage]
        + 0.05 * (body["bmi"] - 28)
        - 1.2 * np.log(body["steps"] / 7500)
        - 0.3 * np.log((body["active_minutes"] + 10) / 55)
        - 0.4 * (sleep_total - 420) / 60
        + 0.25 * p.stress
        + 0.1 * p.age_c
        + rng.normal(0, 0.3, len(p.age))
    )


def _draw_glycaemia(rng: np.random.Generator, load: np.ndarray) -> dict[str, np.ndarray]:
    n = len(load)
    hba1c = _clip_round(4.5 + 1.9 * _softplus(load + 0.3 + rng.normal(0, 0.6, n)), 4, 15)
    glucose_cv = _clip_round(15 + 8 * _softplus(load + 0.3) + rng.normal(0, 3, n), 8, 60)
    # ADAG: estimated average glucose = 28.7 * HbA1c - 46.7 mg/dL.
    mean_glucose = _clip_round(28.7 * hba1c - 46.7 + rng.normal(0, 10, n), 55, 380)
    tir_logit = -(mean_glucose - 210) / 25 - (glucose_cv - 30) / 10 + rng.normal(0, 0.3, n)
    return {
        "mean_glucose": mean_glucose,
        "time_in_range": np.round(100 * _sigmoid(tir_logit), 1),
        "glucose_cv": glucose_cv,
        "hba1c": hba1c,
    }


def generate_demo_cohort(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Simulate `n` people from the SCM; the same (n, seed) always gives the same frame.

    Columns: person_id, the features of `FEATURES` in order, then abnormal_glucose and
    high_stress (0/1). Every value lies in its feature's range and obeys both rules exactly.
    """
    if n < MIN_ROWS:
        raise DataError(
            f"the demo cohort needs at least {MIN_ROWS} people, got n = {n}",
            f"pass --n {MIN_ROWS} or more (2000 is the documented default)",
        )
    if seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed}", "pass --seed 0 or more")
    rng = np.random.default_rng(seed)
    person = _draw_person(rng, n)
    body = _draw_body_and_activity(rng, person)
    sleep = _draw_sleep_and_stress(rng, person)
    heart = _draw_cardiorespiratory(rng, person, body)
    load = _glycaemic_load(rng, person, body, sleep["sleep_total_min"])
    glycaemia = _draw_glycaemia(rng, load)
    columns = {
        "person_id": np.array([f"P{i:05d}" for i in range(1, n + 1)]),
        "age": person.age,
        "sex": np.asarray(SEXES)[np.where(person.female, 0, 1)],
        "diabetes_stage": np.asarray(STAGES)[person.stage],
        **body,
        **sleep,
        **heart,
        **glycaemia,
        "abnormal_glucose": (load + rng.normal(0, 0.8, n) > GLUCOSE_THRESHOLD).astype(np.int64),
        "high_stress": (person.stress + rng.normal(0, 0.5, n) > STRESS_THRESHOLD).astype(np.int64),
    }
    return pd.DataFrame(columns, columns=["person_id", *FEATURE_NAMES, *LABELS])


def write_demo(out_dir: Path, n: int = 2000, seed: int = 0) -> DemoFiles:
    """Write demo.csv, demo.toml (glucose task) and demo-stress.toml into `out_dir`, atomically."""
    out_dir = Path(out_dir)
    files = DemoFiles(
        csv=out_dir / "demo.csv",
        spec=out_dir / "demo.toml",
        stress_spec=out_dir / "demo-stress.toml",
    )
    frame = generate_demo_cohort(n, seed)
    with atomic_path(files.csv) as tmp:
        frame.to_csv(tmp, index=False)
    save_spec(demo_spec("glucose"), files.spec)
    save_spec(demo_spec("stress"), files.stress_spec)
    return files
