"""From per-unit test scores to the study's tables: F1 recovery, 95% CIs, a paired test vs SMOTE.

Recovery and gain are computed per seed, against that seed's scarce and full arms of the same
classifier kind (paired: the same scenario draw and classifier seed), then summarised over seeds:

    F1 recovery       = (F1_arm - F1_scarce) / (F1_full - F1_scarce)
    relative F1 gain  = (F1_arm - F1_scarce) / F1_scarce

Recovery is undefined (NaN, left out of the mean) for a seed whose scarce arm lost no F1. It
can pass 100%: a balanced training set may score a higher minority F1 than the full, imbalanced
one. The 95% CI is the t interval of the mean over seeds; the test against SMOTE is a paired t
test on the seeds' F1 (same kind, scenario, rows added and seed).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from cf_agent.augment.arms import ARM_FULL, ARM_SCARCE

METRICS = ("f1_minority", "roc_auc", "balanced_accuracy")
DERIVED = ("f1_recovery", "relative_f1_gain")
REFERENCE = "smote"
UNIT = ["kind", "scenario", "rows", "arm"]


def f1_recovery(f1_arm: float, f1_scarce: float, f1_full: float) -> float:
    """Share of the F1 lost to scarcity that the arm wins back (1 = full data's F1)."""
    gap = f1_full - f1_scarce
    return math.nan if gap <= 0 else (f1_arm - f1_scarce) / gap


def relative_gain(f1_arm: float, f1_scarce: float) -> float:
    """F1 change relative to the scarce arm's F1."""
    return math.nan if f1_scarce <= 0 else (f1_arm - f1_scarce) / f1_scarce


def mean_ci(values: pd.Series) -> tuple[float, float]:
    """Mean and the half-width of its 95% t interval (NaN with fewer than two values)."""
    clean = values.dropna().to_numpy(dtype=float)
    if len(clean) == 0:
        return math.nan, math.nan
    if len(clean) < 2:
        return float(clean.mean()), math.nan
    sem = clean.std(ddof=1) / math.sqrt(len(clean))
    return float(clean.mean()), float(stats.t.ppf(0.975, len(clean) - 1) * sem)


def paired_p(arm: pd.Series, reference: pd.Series) -> float:
    """Two-sided paired t test of two F1 series indexed by seed (NaN if undefined)."""
    joined = pd.concat([arm, reference], axis=1, join="inner").dropna()
    if len(joined) < 2:
        return math.nan
    differences = joined.iloc[:, 0] - joined.iloc[:, 1]
    if np.allclose(differences, differences.iloc[0]):
        return 1.0 if np.isclose(differences.iloc[0], 0) else 0.0
    return float(stats.ttest_rel(joined.iloc[:, 0], joined.iloc[:, 1]).pvalue)


def per_seed(units: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """One row per (kind, scenario, rows, arm, seed), the full arm repeated in every scenario,
    with recovery and relative gain against the same seed's scarce and full arms."""
    full = units[units["arm"] == ARM_FULL]
    rest = units[units["arm"] != ARM_FULL]
    expanded = [rest] + [full.assign(scenario=name) for name in scenarios]
    frame = pd.concat(expanded, ignore_index=True)
    frame = frame[frame["scenario"].isin(scenarios)].reset_index(drop=True)
    scarce = frame[frame["arm"] == ARM_SCARCE].set_index(["kind", "scenario", "seed"])
    ceiling = full.set_index(["kind", "seed"])["f1_minority"]
    recovery, gain = [], []
    for row in frame.itertuples(index=False):
        f1_scarce = scarce["f1_minority"].get((row.kind, row.scenario, row.seed), math.nan)
        f1_full = ceiling.get((row.kind, row.seed), math.nan)
        recovery.append(f1_recovery(row.f1_minority, f1_scarce, f1_full))
        gain.append(relative_gain(row.f1_minority, f1_scarce))
    return frame.assign(f1_recovery=recovery, relative_f1_gain=gain)


def summarize(seeded: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% CI over seeds per (kind, scenario, rows, arm), in the units' order, with
    the mean F1 difference to SMOTE and its paired p value."""
    references = {
        key: part.set_index("seed")["f1_minority"]
        for key, part in seeded[seeded["arm"] == REFERENCE].groupby(UNIT, sort=False)
    }
    rows = []
    for (kind, scenario, count, arm), part in seeded.groupby(UNIT, sort=False):
        row: dict[str, object] = {
            "kind": kind,
            "scenario": scenario,
            "keep": float(part["keep"].iloc[0]),
            "rows": count,
            "arm": arm,
            "seeds": len(part),
            "rows_added": float(part["rows_added"].mean()),
        }
        for column in (*METRICS, *DERIVED):
            row[f"{column}_mean"], row[f"{column}_ci"] = mean_ci(part[column])
        mine = part.set_index("seed")["f1_minority"]
        reference = references.get((kind, scenario, count, REFERENCE))
        if arm in (ARM_SCARCE, ARM_FULL, REFERENCE) or reference is None:
            row["f1_vs_smote"], row["p_vs_smote"] = math.nan, math.nan
        else:
            row["f1_vs_smote"] = float((mine - reference).mean())
            row["p_vs_smote"] = paired_p(mine, reference)
        rows.append(row)
    return pd.DataFrame(rows)


def average_over_scenarios(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (kind, rows, arm), the scenario means of recovery and gain averaged over scenarios
    (how the source study reports its ~20%), and in how many scenarios the arm's mean F1 beats
    SMOTE's (significantly: paired p < 0.05)."""
    rows = []
    for (kind, count, arm), part in summary.groupby(["kind", "rows", "arm"], sort=False):
        ahead = part["f1_vs_smote"] > 0
        rows.append(
            {
                "kind": kind,
                "rows": count,
                "arm": arm,
                "scenarios": len(part),
                "rows_added": float(part["rows_added"].mean()),
                "f1_minority": float(part["f1_minority_mean"].mean()),
                "f1_recovery": float(part["f1_recovery_mean"].mean()),
                "relative_f1_gain": float(part["relative_f1_gain_mean"].mean()),
                "beats_smote": int(ahead.sum()),
                "beats_smote_p05": int((ahead & (part["p_vs_smote"] < 0.05)).sum()),
                "compared": int(part["f1_vs_smote"].notna().sum()),
            }
        )
    return pd.DataFrame(rows)
