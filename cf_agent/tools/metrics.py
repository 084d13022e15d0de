"""Evaluation metrics for counterfactuals, as defined by DiCE and CARLA.

Pure functions over rows ({feature: value} mappings), the spec and, where a metric needs
them, training data or the model. The formulas, their sources and which direction is better
are in docs/metrics.md; the docstrings here repeat each formula in one line.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.neighbors import NearestNeighbors

from cf_agent.data.spec import Feature, FeatureSpec
from cf_agent.tools.actionability import FLOAT_TOLERANCE, ActionabilityCheck
from cf_agent.tools.classifier_check import ProbabilisticClassifier, rows_to_frame

Row = Mapping[str, Any]


def _differs(feature: Feature, a: Any, b: Any) -> bool:
    if feature.kind == "categorical":
        return bool(a != b)
    return abs(float(a) - float(b)) > FLOAT_TOLERANCE


def changed_features(spec: FeatureSpec, query: Row, cf: Row) -> list[str]:
    """Names of the features whose value differs between the query and the CF."""
    return [f.name for f in spec.features if _differs(f, query[f.name], cf[f.name])]


def validity(predicted: Sequence[int] | np.ndarray, desired_class: int) -> float:
    """Share of CFs the model predicts as the desired class: (1/n) Σ 1[f(x'_i) = y*]; nan if n=0."""
    labels = np.asarray(predicted)
    return float(np.mean(labels == desired_class)) if labels.size else math.nan


def success_rate(valid_per_query: Sequence[Sequence[bool]]) -> float:
    """Share of queries with at least one valid CF (a query with no CF counts as a failure)."""
    if not valid_per_query:
        return math.nan
    return float(np.mean([any(valid) for valid in valid_per_query]))


def sparsity_count(spec: FeatureSpec, query: Row, cf: Row) -> int:
    """L0 distance: number of features changed, Σ_l 1[x_l ≠ x'_l]."""
    return len(changed_features(spec, query, cf))


def sparsity_share(spec: FeatureSpec, query: Row, cf: Row) -> float:
    """Share of features changed, (1/d) Σ_l 1[x_l ≠ x'_l]; DiCE reports 1 minus this."""
    return sparsity_count(spec, query, cf) / len(spec.features)


def mad_scales(spec: FeatureSpec, train: pd.DataFrame) -> dict[str, float]:
    """Per float/int feature, MAD_j = median(|x_j − median(x_j)|) on training data.

    A feature with MAD 0 (mostly one value) falls back to its standard deviation, then to 1,
    so a change in it still counts instead of dividing by zero.
    """
    scales = {}
    for feature in spec.features:
        if not feature.is_numeric:
            continue
        values = train[feature.name].to_numpy(dtype=float)
        mad = float(np.median(np.abs(values - np.median(values))))
        std = float(np.std(values))
        scales[feature.name] = mad if mad > 0 else (std if std > 0 else 1.0)
    return scales


def proximity_l1_mad(spec: FeatureSpec, a: Row, b: Row, mad: Mapping[str, float]) -> float:
    """DiCE distance: Σ_continuous |a_j − b_j| / MAD_j + Σ_categorical/bool 1[a_j ≠ b_j]."""
    total = 0.0
    for feature in spec.features:
        if feature.is_numeric:
            total += abs(float(a[feature.name]) - float(b[feature.name])) / mad[feature.name]
        else:
            total += _differs(feature, a[feature.name], b[feature.name])
    return total


def proximity_l2_range(spec: FeatureSpec, a: Row, b: Row) -> float:
    """CARLA distance: sqrt(Σ_continuous ((a_j − b_j)/(high_j − low_j))² + Σ_other 1[a_j ≠ b_j])."""
    total = 0.0
    for feature in spec.features:
        if feature.is_numeric:
            span = float(feature.high or 0.0) - float(feature.low or 0.0)
            total += ((float(a[feature.name]) - float(b[feature.name])) / span) ** 2
        else:
            total += _differs(feature, a[feature.name], b[feature.name])
    return math.sqrt(total)


def diversity(spec: FeatureSpec, cfs: Sequence[Row], mad: Mapping[str, float]) -> float:
    """DiCE diversity: mean pairwise L1-MAD distance, (1/C(k,2)) Σ_{i<j} dist(c_i, c_j).

    nan for fewer than two CFs.
    """
    pairs = list(itertools.combinations(cfs, 2))
    if not pairs:
        return math.nan
    return float(np.mean([proximity_l1_mad(spec, a, b, mad) for a, b in pairs]))


def count_diversity(spec: FeatureSpec, cfs: Sequence[Row]) -> float:
    """DiCE count diversity: (1/(C(k,2) d)) Σ_{i<j} Σ_l 1[c_i,l ≠ c_j,l]; nan if k<2."""
    pairs = list(itertools.combinations(cfs, 2))
    if not pairs:
        return math.nan
    return float(np.mean([sparsity_share(spec, a, b) for a, b in pairs]))


def plausibility_rate(passed: Sequence[bool]) -> float:
    """Share of CFs that pass the plausibility check; nan for none."""
    return float(np.mean(passed)) if len(passed) else math.nan


def encode_rows(spec: FeatureSpec, frame: pd.DataFrame) -> np.ndarray:
    """Rows as points: float/int min-max scaled by the spec range, bool 0/1, categories one-hot."""
    blocks = []
    for feature in spec.features:
        if feature.kind == "categorical":
            values = frame[feature.name].astype(str).to_numpy()
            cats = np.asarray(feature.categories or (), dtype=str)
            blocks.append((values[:, None] == cats[None, :]).astype(float))
            continue
        values = frame[feature.name].to_numpy(dtype=float)
        if feature.is_numeric:
            low, high = float(feature.low or 0.0), float(feature.high or 0.0)
            values = (values - low) / (high - low)
        blocks.append(values[:, None])
    return np.hstack(blocks)


def ynn(
    spec: FeatureSpec,
    cfs: Sequence[Row],
    cf_labels: Sequence[int] | np.ndarray,
    train: pd.DataFrame,
    train_labels: Sequence[int] | np.ndarray,
    k: int = 5,
) -> float:
    """CARLA yNN: 1 − (1/(n k)) Σ_i Σ_{j ∈ kNN(x'_i)} 1[f(x'_i) ≠ f(x_j)].

    kNN(x'_i) are the k training rows nearest to the CF (encode_rows space); labels are the
    model's predictions, for the CFs and for the training rows. nan when there are no CFs.
    """
    if not cfs:
        return math.nan
    neighbours = NearestNeighbors(n_neighbors=min(k, len(train))).fit(encode_rows(spec, train))
    points = encode_rows(spec, pd.DataFrame.from_records(list(cfs)))
    index = neighbours.kneighbors(points, return_distance=False)
    same = np.asarray(train_labels)[index] == np.asarray(cf_labels)[:, None]
    return float(same.mean())


def _predicts_desired(
    model: ProbabilisticClassifier, spec: FeatureSpec, rows: Sequence[Row]
) -> np.ndarray:
    """Per row: p(desired) beats every other class (the classifier check with margin 0)."""
    proba = np.asarray(model.predict_proba(rows_to_frame(spec, rows)))
    desired = [int(c) for c in model.classes_].index(spec.desired_class)
    others = np.delete(proba, desired, axis=1)
    return np.asarray(proba[:, desired] > others.max(axis=1))


def redundancy(spec: FeatureSpec, model: ProbabilisticClassifier, query: Row, cf: Row) -> int:
    """CARLA redundancy: changed features that alone can go back to the factual value with the
    CF still predicted as the desired class. Defined for valid CFs only (ValueError otherwise).
    """
    changed = changed_features(spec, query, cf)
    reverted = [{**cf, name: query[name]} for name in changed]
    valid = _predicts_desired(model, spec, [cf, *reverted])
    if not valid[0]:
        raise ValueError("redundancy is defined for valid counterfactuals only")
    return int(valid[1:].sum())


def constraint_violations(spec: FeatureSpec, query: Row, cf: Row) -> int:
    """Number of actionability/immutability violations (one per ActionabilityCheck reason)."""
    return len(ActionabilityCheck(spec).check(query, cf).reasons)


class TimeSummary(NamedTuple):
    """Wall-clock seconds per counterfactual."""

    median: float
    mean: float


def time_per_cf(seconds_per_cf: Sequence[float]) -> TimeSummary:
    """Median and mean of the seconds each CF took to produce."""
    if not seconds_per_cf:
        raise ValueError("time_per_cf needs at least one timing")
    values = np.asarray(seconds_per_cf, dtype=float)
    return TimeSummary(median=float(np.median(values)), mean=float(np.mean(values)))


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t-interval: x̄ ± t_{(1+c)/2, n−1} · s / √n (s with n − 1).

    One value gives (x̄, nan, nan): its spread is unknown.
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("mean_ci needs at least one value")
    if not np.all(np.isfinite(data)):
        raise ValueError(
            f"mean_ci got {int(np.sum(~np.isfinite(data)))} non-finite values; "
            "drop or report them separately"
        )
    mean = float(data.mean())
    if data.size == 1:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf((1 + confidence) / 2, data.size - 1)) * float(
        data.std(ddof=1) / math.sqrt(data.size)
    )
    return mean, mean - half, mean + half
