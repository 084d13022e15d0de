"""Which majority rows the CFs start from, in the order the study uses them.

The study asks for CFs along this order until it has as many verified rows as its largest count;
each smaller count takes a prefix, so the rows added at 50 are among those added at 100.

- `boundary`: highest p(minority) first: the rows whose CFs need the smallest change.
- `spread`: a seeded shuffle: CFs from everywhere in the majority class.
- `diverse`: farthest-point order on standardised features, starting at the boundary-most
  row: each next source is the row farthest from every source already taken. A CF stays near
  its source, so diverse sources give diverse minority rows.

Only rows of other classes that the scarce model puts outside the minority class qualify (a
row it already calls minority has no CF to find), and only scarce training rows, never test rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cf_agent.augment.options import SourceOrder
from cf_agent.data.spec import FeatureSpec
from cf_agent.models.classifier import ClassifierBundle

SOURCE_ORDERS: tuple[SourceOrder, ...] = ("boundary", "spread", "diverse")


def _standardised(spec: FeatureSpec, rows: pd.DataFrame) -> np.ndarray:
    """Numbers as z-scores, categories one-hot: every feature weighs alike in a distance."""
    parts = []
    for feature in spec.features:
        column = rows[feature.name]
        if feature.kind == "categorical":
            values = column.astype(str).to_numpy()
            parts.append(np.stack([values == c for c in feature.categories or ()], axis=1))
        else:
            numbers = column.to_numpy(dtype=float)
            sd = numbers.std()
            parts.append(((numbers - numbers.mean()) / (sd if sd > 0 else 1.0))[:, None])
    return np.hstack(parts).astype(float)


def farthest_point_order(points: np.ndarray, first: int) -> np.ndarray:
    """All positions, from `first` on, each next the farthest from those already taken."""
    order = [first]
    nearest = np.linalg.norm(points - points[first], axis=1)
    nearest[first] = -1.0
    for _ in range(len(points) - 1):
        pick = int(np.argmax(nearest))
        order.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(points - points[pick], axis=1))
        nearest[order] = -1.0
    return np.asarray(order, dtype=np.int64)


def order_sources(
    spec: FeatureSpec,
    train: pd.DataFrame,
    bundle: ClassifierBundle,
    order: SourceOrder,
    seed: int,
) -> pd.DataFrame:
    """Every qualifying source row (spec.desired_class = the minority class), in `order`."""
    others = train[train[spec.label] != spec.desired_class]
    with threadpool_limits(limits=1):
        proba = bundle.predict_proba(others[spec.feature_names])
    desired = list(bundle.classes_).index(spec.desired_class)
    outside = np.flatnonzero(np.argmax(proba, axis=1) != desired)
    by_boundary = outside[np.argsort(-proba[outside, desired], kind="stable")]
    if order == "boundary" or len(by_boundary) == 0:
        return others.iloc[by_boundary]
    if order == "spread":
        return others.iloc[np.random.default_rng(seed).permutation(by_boundary)]
    points = _standardised(spec, others.iloc[by_boundary])
    return others.iloc[by_boundary[farthest_point_order(points, 0)]]
