"""The recovery formula, relative gain, and their per-seed pairing and aggregation."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats

from cf_agent.augment.report import _spread
from cf_agent.augment.summary import (
    average_over_scenarios,
    f1_recovery,
    mean_ci,
    paired_p,
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


def _unit(
    scenario: str, keep: float, seed: int, arm: str, f1: float, kind: str = "gbm"
) -> dict[str, object]:
    added = arm not in ("scarce", "full")
    return {
        "kind": kind,
        "scenario": scenario,
        "keep": keep,
        "seed": seed,
        "arm": arm,
        "rows": "10" if added else "0",
        "f1_minority": f1,
        "roc_auc": 0.9,
        "balanced_accuracy": 0.8,
        "rows_added": 10 if added else 0,
    }


def test_recovery_pairs_each_seed_with_its_own_scarce_and_full_arms_of_its_kind() -> None:
    units = pd.DataFrame(
        [
            _unit("full", 1.0, 0, "full", 0.8),
            _unit("full", 1.0, 1, "full", 0.9),
            _unit("full", 1.0, 0, "full", 0.5, kind="logreg"),
            _unit("keep10", 0.1, 0, "scarce", 0.4),
            _unit("keep10", 0.1, 1, "scarce", 0.5),
            _unit("keep10", 0.1, 0, "scarce", 0.3, kind="logreg"),
            _unit("keep10", 0.1, 0, "smote", 0.6),  # recovery 0.5, gain 0.5
            _unit("keep10", 0.1, 1, "smote", 0.6),  # recovery 0.25, gain 0.2
            _unit("keep10", 0.1, 0, "smote", 0.4, kind="logreg"),  # recovery 0.5
        ]
    )
    seeded = per_seed(units, ["keep10"])
    smote = seeded[(seeded["arm"] == "smote") & (seeded["kind"] == "gbm")].set_index("seed")
    assert smote.loc[0, "f1_recovery"] == pytest.approx(0.5)
    assert smote.loc[1, "f1_recovery"] == pytest.approx(0.25)
    assert smote.loc[1, "relative_f1_gain"] == pytest.approx(0.2)
    logreg = seeded[(seeded["arm"] == "smote") & (seeded["kind"] == "logreg")]
    assert logreg["f1_recovery"].tolist() == pytest.approx([0.5])
    full = seeded[seeded["arm"] == "full"]
    assert list(full["scenario"]) == ["keep10"] * 3
    assert list(full["f1_recovery"]) == [1.0, 1.0, 1.0]

    summary = summarize(seeded)
    gbm = summary[summary["kind"] == "gbm"]
    assert list(gbm["arm"]) == ["scarce", "smote", "full"]
    row = gbm.set_index("arm").loc["smote"]
    assert row["seeds"] == 2
    assert row["rows_added"] == 10
    assert row["f1_minority_mean"] == pytest.approx(0.6)
    assert row["f1_minority_ci"] == pytest.approx(0.0)
    assert row["f1_recovery_mean"] == pytest.approx(0.375)
    sd = pd.Series([0.5, 0.25]).std()
    assert row["f1_recovery_ci"] == pytest.approx(stats.t.ppf(0.975, 1) * sd / math.sqrt(2))
    assert row["relative_f1_gain_mean"] == pytest.approx(0.35)


def test_the_test_against_smote_pairs_seeds_and_counts_wins() -> None:
    units = [_unit("full", 1.0, s, "full", 0.9) for s in range(5)]
    units += [_unit("keep10", 0.1, s, "scarce", 0.5) for s in range(5)]
    smote = [0.60, 0.62, 0.58, 0.61, 0.59]
    units += [_unit("keep10", 0.1, s, "smote", f) for s, f in enumerate(smote)]
    units += [_unit("keep10", 0.1, s, "cf:search", f + 0.03) for s, f in enumerate(smote)]
    units += [
        _unit("keep10", 0.1, s, "oversample", f - 0.01 * (s % 2)) for s, f in enumerate(smote)
    ]
    summary = summarize(per_seed(pd.DataFrame(units), ["keep10"])).set_index("arm")
    assert summary.loc["cf:search", "f1_vs_smote"] == pytest.approx(0.03)
    assert summary.loc["cf:search", "p_vs_smote"] == 0.0  # the same gain on every seed
    assert 0.05 < summary.loc["oversample", "p_vs_smote"] < 1
    assert math.isnan(summary.loc["smote", "p_vs_smote"])
    average = average_over_scenarios(summary.reset_index()).set_index("arm")
    assert average.loc["cf:search", "beats_smote"] == 1
    assert average.loc["cf:search", "beats_smote_p05"] == 1
    assert average.loc["oversample", "beats_smote"] == 0
    assert average.loc["cf:search", "f1_recovery"] == pytest.approx((0.63 - 0.5) / 0.4)


def test_paired_p_matches_scipy_on_matching_seeds() -> None:
    arm = pd.Series([0.61, 0.65, 0.60, 0.70], index=[0, 1, 2, 3])
    reference = pd.Series([0.60, 0.61, 0.62, 0.64, 0.9], index=[0, 1, 2, 3, 4])
    expected = stats.ttest_rel(arm, reference.iloc[:4]).pvalue
    assert paired_p(arm, reference) == pytest.approx(expected)
    assert mean_ci(pd.Series([0.5]))[1] != mean_ci(pd.Series([0.5]))[1]  # one seed: no CI


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
    summary = summarize(per_seed(units, ["keep50", "keep10"]))
    smote = summary[summary["arm"] == "smote"]
    assert math.isnan(smote.iloc[0]["f1_recovery_mean"])
    assert math.isnan(smote.iloc[1]["f1_recovery_ci"])  # one seed: no CI
    average = average_over_scenarios(smote).iloc[0]
    assert average["f1_recovery"] == pytest.approx(0.25)
    assert average["f1_minority"] == pytest.approx(0.6)


def test_figure_ticks_skip_row_counts_too_close_to_label() -> None:
    # Arms that ran short of `balance` add 631 and 675 rows beside SMOTE's 815: one label.
    assert _spread([25, 100, 300, 631, 675, 815]) == [25, 100, 300, 815]
    assert _spread([25, 100]) == [25, 100]
