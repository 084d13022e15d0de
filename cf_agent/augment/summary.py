"""From per-unit test scores to the study's table: F1 recovery, relative gain, mean and sd.

Recovery and gain are computed per seed, against that seed's scarce and full arms (paired: the
same scenario draw and classifier seed), then averaged over seeds:

    F1 recovery       = (F1_arm - F1_scarce) / (F1_full - F1_scarce)
    relative F1 gain  = (F1_arm - F1_scarce) / F1_scarce

Recovery is undefined (NaN, left out of the mean) for a seed whose scarce arm lost no F1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from cf_agent.augment.arms import ARM_FULL, ARM_SCARCE

METRICS = ("f1_minority", "roc_auc", "balanced_accuracy")
DERIVED = ("f1_recovery", "relative_f1_gain")


def f1_recovery(f1_arm: float, f1_scarce: float, f1_full: float) -> float:
    """Share of the F1 lost to scarcity that the arm wins back (1 = full data's F1)."""
    gap = f1_full - f1_scarce
    return math.nan if gap <= 0 else (f1_arm - f1_scarce) / gap


def relative_gain(f1_arm: float, f1_scarce: float) -> float:
    """F1 change relative to the scarce arm's F1."""
    return math.nan if f1_scarce <= 0 else (f1_arm - f1_scarce) / f1_scarce


def per_seed(units: pd.DataFrame, scenarios: Sequence[str]) -> pd.DataFrame:
    """One row per (scenario, seed, arm), the full arm repeated in every scenario, with
    recovery and relative gain against the same seed's scarce and full arms."""
    full = units[units["arm"] == ARM_FULL]
    rest = units[units["arm"] != ARM_FULL]
    expanded = [rest] + [full.assign(scenario=name) for name in scenarios]
    frame = pd.concat(expanded, ignore_index=True)
    frame = frame[frame["scenario"].isin(scenarios)]
    f1 = frame.set_index(["scenario", "seed", "arm"])["f1_minority"]
    recovery, gain = [], []
    for row in frame.itertuples(index=False):
        scarce = f1.get((row.scenario, row.seed, ARM_SCARCE), math.nan)
        ceiling = f1.get((row.scenario, row.seed, ARM_FULL), math.nan)
        recovery.append(f1_recovery(row.f1_minority, scarce, ceiling))
        gain.append(relative_gain(row.f1_minority, scarce))
    return frame.assign(f1_recovery=recovery, relative_f1_gain=gain)


def summarize(seeded: pd.DataFrame, scenarios: Sequence[str], arms: Sequence[str]) -> pd.DataFrame:
    """Mean and sd over seeds per (scenario, arm), in the given scenario and arm order."""
    rows = []
    for scenario in scenarios:
        for arm in arms:
            part = seeded[(seeded["scenario"] == scenario) & (seeded["arm"] == arm)]
            if part.empty:
                continue
            row: dict[str, object] = {
                "scenario": scenario,
                "keep": float(part["keep"].iloc[0]),
                "arm": arm,
                "seeds": len(part),
                "rows_added": float(part["rows_added"].mean()),
            }
            for column in (*METRICS, *DERIVED):
                values = part[column].dropna()
                row[f"{column}_mean"] = float(values.mean()) if len(values) else math.nan
                row[f"{column}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            rows.append(row)
    return pd.DataFrame(rows)


def average_over_scenarios(summary: pd.DataFrame, arms: Sequence[str]) -> pd.DataFrame:
    """Per arm, the scenario means of recovery and relative gain averaged over scenarios
    (how the source study reports its ~20%)."""
    rows = []
    for arm in arms:
        part = summary[summary["arm"] == arm]
        if part.empty:
            continue
        rows.append(
            {
                "arm": arm,
                "scenarios": len(part),
                "f1_minority": float(part["f1_minority_mean"].mean()),
                "f1_recovery": float(part["f1_recovery_mean"].mean()),
                "relative_f1_gain": float(part["relative_f1_gain_mean"].mean()),
            }
        )
    return pd.DataFrame(rows)
