"""Intervention quality and feature diversity: what each method asks a person to change.

Counted over the CFs a method returned (valid or not), per feature: how often it changes and
by how much (the median change, in the feature's unit). A feature is *behaviourally
modifiable* when the spec says so (`FeatureSpec.is_modifiable`): its group is one of the spec's
`modifiable_groups` and it is not immutable. The demo spec's default is the wearable group
(steps, activity, sleep, stress, heart rate): clinical and CGM features (BMI, HbA1c, glucose,
blood pressure) follow behaviour only with a delay, and demographics not at all. Another cohort
names its own.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, Field

from cf_agent.data.spec import FeatureSpec
from cf_agent.eval.judge import QueryResult
from cf_agent.tools.metrics import changed_features
from cf_agent.tools.rationale import describe_delta


class FeatureChange(BaseModel):
    """How one method changes one feature."""

    feature: str
    group: str
    modifiable: bool = Field(description="Behaviourally modifiable (FeatureSpec.is_modifiable).")
    count: int = Field(description="Returned CFs that change it.")
    share: float = Field(description="count / returned CFs.")
    median_delta: float | None = Field(description="Median change (numeric features).")
    typical: str = Field(description="Median change with unit, or the commonest switch.")


class InterventionSummary(BaseModel):
    """One method's changes over all the CFs it returned."""

    method: str
    cfs: int = Field(description="Returned CFs with well-formed values.")
    changes: int = Field(description="Feature changes summed over those CFs.")
    modifiable_share: float | None = Field(description="Share of changes to modifiable features.")
    immutable_share: float | None = Field(description="Share of changes to immutable features.")
    distinct_features: int = Field(description="Features changed in at least one CF.")
    change_entropy: float | None = Field(
        description="Entropy of which features change, over log(d): 0 one feature, 1 even."
    )
    features: list[FeatureChange] = Field(description="Changed features, most often first.")


Switches = dict[str, Counter[tuple[str, str]]]


def _collect(
    spec: FeatureSpec, results: Sequence[QueryResult]
) -> tuple[int, dict[str, list[float]], Switches]:
    """Returned CFs with well-formed values; per feature their numeric deltas or switches."""
    deltas: dict[str, list[float]] = {f.name: [] for f in spec.features}
    switches: Switches = {f.name: Counter() for f in spec.features}
    n_cfs = 0
    for result in results:
        for slot in result.slots:
            if slot.values is None or slot.n_changed is None:
                continue
            n_cfs += 1
            query, values = result.query, slot.values
            for name in changed_features(spec, query, values):
                if spec.feature(name).kind == "categorical":
                    switches[name][(str(query[name]), str(values[name]))] += 1
                else:
                    deltas[name].append(float(values[name]) - float(query[name]))
    return n_cfs, deltas, switches


def numeric_deltas(spec: FeatureSpec, results: Sequence[QueryResult]) -> dict[str, list[float]]:
    """Per numeric feature, the changes (CF minus person) in the returned CFs that change it."""
    return _collect(spec, results)[1]


def summarize_interventions(
    spec: FeatureSpec, method: str, results: Sequence[QueryResult]
) -> InterventionSummary:
    """Per feature: how often and how much the method's returned CFs change it."""
    n_cfs, deltas, switches = _collect(spec, results)
    features = []
    for feature in spec.features:
        numeric, switched = deltas[feature.name], switches[feature.name]
        count = len(numeric) + sum(switched.values())
        if not count:
            continue
        median = float(statistics.median(numeric)) if numeric else None
        if median is not None:
            typical = describe_delta(feature, median)
        else:
            (before, after), _ = switched.most_common(1)[0]
            typical = f"{before} → {after}"
        features.append(
            FeatureChange(
                feature=feature.name,
                group=feature.group,
                modifiable=spec.is_modifiable(feature),
                count=count,
                share=count / n_cfs,
                median_delta=median,
                typical=typical,
            )
        )
    features.sort(key=lambda f: -f.count)
    total = sum(f.count for f in features)
    immutable = {f.name for f in spec.features if f.actionability == "immutable"}
    entropy = None
    if total and len(spec.features) > 1:
        shares = [f.count / total for f in features]
        entropy = -sum(p * math.log(p) for p in shares) / math.log(len(spec.features))
    return InterventionSummary(
        method=method,
        cfs=n_cfs,
        changes=total,
        modifiable_share=sum(f.count for f in features if f.modifiable) / total if total else None,
        immutable_share=(
            sum(f.count for f in features if f.feature in immutable) / total if total else None
        ),
        distinct_features=len(features),
        change_entropy=entropy,
        features=features,
    )
