"""Project a candidate row onto the spec's hard constraints.

Used by refinement only; the verifiers never repair anything, they only judge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cf_agent.data.spec import Feature, FeatureSpec, OrderRule, SumRule


def _project_numeric(feature: Feature, factual: float, value: float) -> float:
    low, high = feature.reachable(factual)
    value = min(max(value, low), high)
    if feature.kind == "int":
        value = float(math.floor(value)) if value > factual else float(math.ceil(value))
        return int(value)
    return round(value, 4)


def project(
    spec: FeatureSpec, query: Mapping[str, Any], candidate: Mapping[str, Any]
) -> dict[str, Any]:
    """The nearest row (feature by feature) that respects actionability, ranges and rules."""
    out: dict[str, Any] = {}
    for feature in spec.features:
        factual, value = query[feature.name], candidate.get(feature.name, query[feature.name])
        if feature.actionability == "immutable":
            out[feature.name] = factual
        elif feature.is_numeric:
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float(factual)
            if not math.isfinite(number):
                number = float(factual)
            out[feature.name] = _project_numeric(feature, float(factual), number)
        elif feature.kind == "categorical":
            out[feature.name] = value if value in (feature.categories or ()) else factual
        else:
            out[feature.name] = value if value in (0, 1) else factual
    for rule in spec.rules:
        if isinstance(rule, SumRule):
            parts_sum = sum(float(out[p]) for p in rule.parts)
            total = spec.feature(rule.total)
            out[rule.total] = round(parts_sum) if total.kind == "int" else parts_sum
        elif isinstance(rule, OrderRule) and float(out[rule.left]) > float(out[rule.right]):
            out[rule.right] = out[rule.left]
    return out
