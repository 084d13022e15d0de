"""The recovery formula, relative gain, and their per-seed pairing and aggregation."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from cf_agent.augment.summary import (
    average_over_scenarios,
    f1_recovery,
    per_seed,
    relative_gain,
    summarize,
)


def test_recovery_is_the_share_of_lost_f1_won_back() -> None:
    assert f1_recovery(0.6, 0.4, 0.8) == pytest.approx(0.5)
    assert f1_recovery(0.4, 0.4, 0.8) == 0.0
    assert f1_recovery(0.8, 0.4, 0.8) == pytest.approx(1.0)
    assert f1_recovery(0.3, 0.4, 0.8) == pytest.approx(-0.25)
    assert f1_recovery(0.9, 0.4, 0.8) == pytest.approx(1.25)
    assert math.isnan(f1_recovery(0.7, 0.8, 0.8))  # nothing was lost
    assert math.isnan(f1_recovery(0.7, 0.9, 0.8))


def test_relative_gain() -> None:
    assert relative_gain(0.6, 0.4) == pytest.approx(0.5)
    assert relative_gain(0.3, 0.4) == pytest.approx(-0.25)
    assert math.isnan(relative_gain(0.5, 0.0))


def _unit(scenario: str, keep: float, seed: int, arm: str, f1: float) -> dict[str, object]:
    return {
        "scenario": scenario,
        "keep": keep,
        "seed": seed,
        "arm": arm,
        "f1_minority": f1,
        "roc_auc": 0.9,
        "balanced_accuracy": 0.8,
        "rows_added": 10 if arm == "smote" else 0,
    }


def test_recovery_pairs_each_seed_with_its_own_scarce_and_full_arms() -> None:
    units = pd.DataFrame(
        [
            _unit("full", 1.0, 0, "full", 0.8),
            _unit("full", 1.0, 1, "full", 0.9),
            _unit("keep10", 0.1, 0, "scarce", 0.4),
            _unit("keep10", 0.1, 1, "scarce", 0.5),
            _unit("keep10", 0.1, 0, "smote", 0.6),  # recovery 0.5, gain 0.5
            _unit("keep10", 0.1, 1, "smote", 0.6),  # recovery 0.25, gain 0.2
        ]
    )
    seeded = per_seed(units, ["keep10"])
    smote = seeded[seeded["arm"] == "smote"].set_index("seed")
    assert smote.loc[0, "f1_recovery"] == pytest.approx(0.5)
    assert smote.loc[1, "f1_recovery"] == pytest.approx(0.25)
    assert smote.loc[1, "relative_f1_gain"] == pytest.approx(0.2)
    full = seeded[seeded["arm"] == "full"]
    assert list(full["scenario"]) == ["keep10", "keep10"]
    assert list(full["f1_recovery"]) == [1.0, 1.0]

    summary = summarize(seeded, ["keep10"], ["scarce", "smote", "full"])
    assert list(summary["arm"]) == ["scarce", "smote", "full"]
    row = summary.set_index("arm").loc["smote"]
    assert row["seeds"] == 2
    assert row["rows_added"] == 10
    assert row["f1_minority_mean"] == pytest.approx(0.6)
    assert row["f1_minority_sd"] == pytest.approx(0.0)
    assert row["f1_recovery_mean"] == pytest.approx(0.375)
    assert row["f1_recovery_sd"] == pytest.approx(pd.Series([0.5, 0.25]).std())
    assert row["relative_f1_gain_mean"] == pytest.approx(0.35)


def test_average_over_scenarios_skips_undefined_recovery() -> None:
    units = pd.DataFrame(
        [
            _unit("full", 1.0, 0, "full", 0.8),
            _unit("keep50", 0.5, 0, "scarce", 0.8),  # nothing lost: recovery undefined
            _unit("keep50", 0.5, 0, "smote", 0.7),
            _unit("keep10", 0.1, 0, "scarce", 0.4),
            _unit("keep10", 0.1, 0, "smote", 0.5),
        ]
    )
    summary = summarize(per_seed(units, ["keep50", "keep10"]), ["keep50", "keep10"], ["smote"])
    assert math.isnan(summary.iloc[0]["f1_recovery_mean"])
    assert math.isnan(summary.iloc[1]["f1_recovery_sd"])  # one seed: no sd
    average = average_over_scenarios(summary, ["smote"]).iloc[0]
    assert average["f1_recovery"] == pytest.approx(0.25)
    assert average["f1_minority"] == pytest.approx(0.6)
