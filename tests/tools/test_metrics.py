"""Each metric on tiny examples whose expected values are worked out by hand in comments."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from cf_agent.data.spec import FeatureSpec, spec_from_dict
from cf_agent.tools import metrics


@pytest.fixture(scope="module")
def spec() -> FeatureSpec:
    return spec_from_dict(
        {
            "label": "y",
            "classes": {0: "good", 1: "bad"},
            "desired_class": 0,
            "features": [
                {"name": "x", "kind": "float", "description": "x", "group": "clinical",
                 "low": 0, "high": 10},
                {"name": "n", "kind": "int", "description": "n", "group": "clinical",
                 "low": 0, "high": 100, "actionability": "increase_only", "max_change": 5},
                {"name": "c", "kind": "categorical", "description": "c", "group": "clinical",
                 "categories": ["a", "b", "c"]},
                {"name": "b", "kind": "bool", "description": "b", "group": "clinical",
                 "actionability": "immutable"},
            ],
        }
    )  # fmt: skip


QUERY: dict[str, Any] = {"x": 2.0, "n": 10, "c": "a", "b": 0}
CF: dict[str, Any] = {"x": 5.0, "n": 18, "c": "b", "b": 0}
# x: 1, 2, 3, 4, 10 -> median 3, |dev| 2, 1, 0, 1, 7 -> MAD 1.
# n: 10, 10, 10, 10, 20 -> MAD 0 -> std: mean 12, squares 4, 4, 4, 4, 64 -> sqrt(80 / 5) = 4.
TRAIN = pd.DataFrame(
    {"x": [1.0, 2, 3, 4, 10], "n": [10, 10, 10, 10, 20], "c": list("abcab"), "b": [0, 1, 0, 1, 0]}
)


def test_changed_features_and_sparsity(spec: FeatureSpec) -> None:
    assert metrics.changed_features(spec, QUERY, CF) == ["x", "n", "c"]
    assert metrics.sparsity_count(spec, QUERY, CF) == 3
    assert metrics.sparsity_share(spec, QUERY, CF) == 0.75
    assert metrics.sparsity_count(spec, QUERY, {**QUERY, "x": 2.0 + 1e-12}) == 0


def test_validity_success_and_plausibility_rates() -> None:
    assert metrics.validity([0, 1, 0, 0], desired_class=0) == 0.75
    assert math.isnan(metrics.validity([], desired_class=0))
    # query 1 has a valid CF, query 2 only an invalid one, query 3 none at all.
    assert metrics.success_rate([[False, True], [False], []]) == pytest.approx(1 / 3)
    assert metrics.plausibility_rate([True, False, True, True]) == 0.75
    assert math.isnan(metrics.plausibility_rate([]))


def test_mad_scales_fall_back_to_std(spec: FeatureSpec) -> None:
    assert metrics.mad_scales(spec, TRAIN) == {"x": 1.0, "n": 4.0}
    constant = TRAIN.assign(x=5.0)
    assert metrics.mad_scales(spec, constant)["x"] == 1.0


def test_proximity(spec: FeatureSpec) -> None:
    mad = {"x": 1.0, "n": 4.0}
    # |5 - 2| / 1 + |18 - 10| / 4 + [b != a] + [0 != 0] = 3 + 2 + 1 + 0
    assert metrics.proximity_l1_mad(spec, QUERY, CF, mad) == pytest.approx(6.0)
    # ((5 - 2) / 10)² + ((18 - 10) / 100)² + 1 + 0 = 0.09 + 0.0064 + 1
    assert metrics.proximity_l2_range(spec, QUERY, CF) == pytest.approx(math.sqrt(1.0964))


def test_diversity(spec: FeatureSpec) -> None:
    mad = {"x": 1.0, "n": 4.0}
    a = {"x": 5.0, "n": 18, "c": "b", "b": 0}
    b = {"x": 2.0, "n": 10, "c": "b", "b": 1}
    c = {"x": 5.0, "n": 10, "c": "a", "b": 0}
    # d(a, b) = 3 + 2 + 0 + 1 = 6; d(a, c) = 0 + 2 + 1 + 0 = 3; d(b, c) = 3 + 0 + 1 + 1 = 5
    assert metrics.diversity(spec, [a, b, c], mad) == pytest.approx(14 / 3)
    # features differing: (a, b) x n b = 3/4; (a, c) n c = 2/4; (b, c) x c b = 3/4
    assert metrics.count_diversity(spec, [a, b, c]) == pytest.approx(2 / 3)
    assert math.isnan(metrics.diversity(spec, [a], mad))
    assert math.isnan(metrics.count_diversity(spec, []))


def test_ynn(spec: FeatureSpec) -> None:
    train = pd.DataFrame({"x": [0.0, 1, 2, 8, 9, 10], "n": 50, "c": "a", "b": 0})
    labels = [0, 0, 0, 1, 1, 1]
    cfs = [{"x": 1.5, "n": 50, "c": "a", "b": 0}, {"x": 7.0, "n": 50, "c": "a", "b": 0}]
    # CF 1 (label 0): 3 nearest x = 1, 2, 0 -> labels 0, 0, 0 -> 3/3 agree.
    # CF 2 (label 0): 3 nearest x = 8, 9, 10 -> labels 1, 1, 1 -> 0/3 agree.
    assert metrics.ynn(spec, cfs, [0, 0], train, labels, k=3) == pytest.approx(0.5)
    assert metrics.ynn(spec, cfs[:1], [1], train, labels, k=3) == 0.0
    assert math.isnan(metrics.ynn(spec, [], [], train, labels))


def test_encode_rows(spec: FeatureSpec) -> None:
    encoded = metrics.encode_rows(spec, pd.DataFrame([QUERY, CF]))
    np.testing.assert_allclose(encoded, [[0.2, 0.1, 1, 0, 0, 0], [0.5, 0.18, 0, 1, 0, 0]])


def test_redundancy(spec: FeatureSpec) -> None:
    # The model looks at x only: class 0 ("good", desired) exactly when x > 5.
    frame = pd.DataFrame({"x": np.linspace(0, 10, 41), "n": 10, "c": "a", "b": 0})
    only_x = ColumnTransformer([("x", "passthrough", ["x"])])
    model = Pipeline([("x", only_x), ("clf", LogisticRegression(C=100.0))])
    model.fit(frame, (frame["x"] <= 5).astype(int))
    cf = {"x": 8.0, "n": 30, "c": "b", "b": 1}
    # n, c and b each go back to the factual value and the CF stays valid; x cannot.
    assert metrics.redundancy(spec, model, QUERY, cf) == 3
    assert metrics.redundancy(spec, model, QUERY, {**QUERY, "x": 8.0}) == 0
    with pytest.raises(ValueError, match="valid counterfactuals only"):
        metrics.redundancy(spec, model, QUERY, {**cf, "x": 3.0})


def test_constraint_violations(spec: FeatureSpec) -> None:
    # n rose by 8, above its max_change of 5.
    assert metrics.constraint_violations(spec, QUERY, CF) == 1
    # n fell (increase_only), n moved by 6 > 5, and the immutable b changed.
    assert metrics.constraint_violations(spec, QUERY, {**CF, "n": 4, "b": 1}) == 3
    assert metrics.constraint_violations(spec, QUERY, QUERY) == 0


def test_time_per_cf() -> None:
    assert metrics.time_per_cf([1.0, 2.0, 3.0, 10.0]) == (2.5, 4.0)
    assert metrics.time_per_cf([1.0, 2.0, 3.0, 10.0]).median == 2.5
    with pytest.raises(ValueError):
        metrics.time_per_cf([])


def test_mean_ci() -> None:
    # mean 3, s = sqrt(2.5), s / sqrt(5) = 0.70711, t(0.975, df 4) = 2.776445 -> ± 1.963243
    mean, low, high = metrics.mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert mean == 3.0
    assert low == pytest.approx(3 - 1.963243, abs=1e-6)
    assert high == pytest.approx(3 + 1.963243, abs=1e-6)
    # t(0.95, df 4) = 2.131847 -> ± 1.507443
    assert metrics.mean_ci([1.0, 2.0, 3.0, 4.0, 5.0], confidence=0.9)[2] == pytest.approx(
        3 + 1.507443, abs=1e-6
    )
    assert metrics.mean_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    single = metrics.mean_ci([4.0])
    assert single[0] == 4.0 and math.isnan(single[1]) and math.isnan(single[2])
    with pytest.raises(ValueError, match="at least one value"):
        metrics.mean_ci([])
    with pytest.raises(ValueError, match="1 non-finite values"):
        metrics.mean_ci([1.0, math.nan])
