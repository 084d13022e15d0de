"""Deterministic refinement of an LLM proposal, honestly labelled as such.

First, project the LLM's proposed change onto the constraints and walk along the same
direction (shrinking or stretching it up to the allowed bounds) for the smallest step the
classifier accepts. If no step does, complete it greedily: from the projected proposal, add the
single allowed move that raises p(desired) most until the classifier flips. Either way, then
shrink every change back toward the factual value (reverting it entirely where possible) as far
as validity allows. Values that differ from the LLM's are marked with provenance "refine".
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


SHRINK = np.linspace(0.0, 1.0, 11)  # t = 0 reverts the feature entirely
# The coarse grid: revert, half-way, or the whole step; the values the compact prompt's probes
# show, so a teacher CF on this grid is written in numbers the student model has seen.
HALF_GRID = np.array([0.0, 0.5, 1.0])


def _single_moves(
    spec: FeatureSpec, query: Mapping[str, Any], point: dict[str, Any], skip: set[str]
) -> list[tuple[str, dict[str, Any]]]:
    """Each changeable numeric feature moved by its full allowed step, either way."""
    moves = []
    for feature in spec.features:
        if not feature.is_numeric or feature.actionability == "immutable" or feature.name in skip:
            continue
        span = feature.max_change or (float(feature.high or 0) - float(feature.low or 0)) / 4
        for sign in (1.0, -1.0):
            moved = dict(point)
            moved[feature.name] = float(query[feature.name]) + sign * span
            row = project(spec, query, moved)
            if row != point:
                moves.append((feature.name, row))
    return moves


def _shrink(
    spec: FeatureSpec,
    check: Check,
    query: Mapping[str, Any],
    point: dict[str, Any],
    grid: np.ndarray = SHRINK,
) -> dict[str, Any]:
    """Move each changed numeric feature back toward the factual value while still valid."""
    for feature in spec.features:
        name = feature.name
        if not feature.is_numeric or point[name] == query[name]:
            continue
        start, end = float(query[name]), float(point[name])
        trials = []
        for t in grid:
            moved = dict(point)
            moved[name] = start + t * (end - start)
            trials.append(project(spec, query, moved))
        verdicts = check.check_many(query, trials)
        passing = np.flatnonzero([v.passed for v in verdicts])
        if passing.size:
            point = trials[int(passing[0])]
    return point


def complete_greedily(
    spec: FeatureSpec,
    classifier_check: Check,
    query: Mapping[str, Any],
    start: Mapping[str, Any],
    max_moves: int = 8,
    exclude: frozenset[str] | set[str] = frozenset(),
    grid: np.ndarray = SHRINK,
) -> dict[str, Any] | None:
    """Add the most helpful allowed single moves to `start` until the classifier flips.

    Features in `exclude` are never moved (the search uses it to find a different CF); the
    shrink tries the fractions in `grid` of each change.
    """
    point = project(spec, query, start)
    used: set[str] = set(exclude)
    for _ in range(max_moves + 1):
        moves = _single_moves(spec, query, point, used)
        verdicts = classifier_check.check_many(query, [point] + [row for _, row in moves])
        if verdicts[0].passed:
            return _shrink(spec, classifier_check, query, point, grid)
        if not moves:
            return None
        gains = [v.score - verdicts[0].score for v in verdicts[1:]]
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            return None
        name, point = moves[best]
        used.add(name)
    return None


def refine(
    spec: FeatureSpec,
    classifier_check: Check,
    query: Mapping[str, Any],
    proposal: Mapping[str, Any],
) -> dict[str, Any] | None:
    """Walk along the proposal's direction, or complete it greedily; then drop needless changes."""
    point = refine_along(spec, classifier_check, query, proposal)
    if point is not None:
        return _shrink(spec, classifier_check, query, point)
    return complete_greedily(spec, classifier_check, query, proposal)


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
