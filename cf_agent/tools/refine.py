"""Deterministic refinement of an LLM proposal, honestly labelled as such.

Starting from the LLM's proposed change, project it onto the constraints and walk along the
same direction (shrinking or stretching it up to the allowed bounds) for the smallest step the
classifier accepts. Values that differ from the LLM's are marked with provenance "refine".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cf_agent.data.spec import FeatureSpec
from cf_agent.tools.projection import project
from cf_agent.tools.verifiers import Check

STEPS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0)


def refine_along(
    spec: FeatureSpec,
    classifier_check: Check,
    query: Mapping[str, Any],
    proposal: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The projected point q + t(p - q) with the smallest t that flips the classifier, or None."""
    numeric = [f.name for f in spec.features if f.is_numeric and f.actionability != "immutable"]
    delta = {n: float(proposal[n]) - float(query[n]) for n in numeric}
    others = {
        f.name: proposal[f.name]
        for f in spec.features
        if not f.is_numeric and f.actionability != "immutable"
    }
    if not any(delta.values()) and all(others[n] == query[n] for n in others):
        return None
    points = []
    for t in STEPS:
        moved = dict(query)
        moved.update(others)
        moved.update({n: float(query[n]) + t * d for n, d in delta.items()})
        points.append(project(spec, query, moved))
    verdicts = classifier_check.check_many(query, points)
    passing = np.flatnonzero([v.passed for v in verdicts])
    return points[int(passing[0])] if passing.size else None


def provenance(
    spec: FeatureSpec,
    query: Mapping[str, Any],
    llm_values: Mapping[str, Any] | None,
    final: Mapping[str, Any],
) -> dict[str, str]:
    """Per changed feature: 'llm' if the LLM proposed the final value, else 'refine'."""
    result = {}
    for name in spec.feature_names:
        if final[name] == query[name]:
            continue
        same = llm_values is not None and llm_values.get(name) == final[name]
        result[name] = "llm" if same else "refine"
    return result
