"""Which single-feature moves raise the desired class's probability most, from this row.

Deterministic probes of the classifier for the prompts: each changeable feature moved by its
largest allowed step (either way), scored, best first. They tell a small LLM which way to move
and how far the model's probability goes with one feature alone; they never hold a complete
counterfactual found by a search.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from cf_agent.data.spec import FeatureSpec
from cf_agent.tools.classifier_check import ProbabilisticClassifier
from cf_agent.tools.projection import project

# Probes a prompt shows for one CF (the compact prompt's table; one more for each further CF).
PROBES_SHOWN = 4


class Probe(BaseModel):
    """One feature moved alone, half-way and all the way to the end of its allowed step, and
    where p(desired) went."""

    feature: str = Field(description="The feature moved.")
    now: float = Field(description="The person's value.")
    half: float = Field(description="The value half-way to the largest allowed step.")
    to: float = Field(description="The value at the largest allowed step.")
    p_half: float = Field(description="p(desired) with only this feature moved half-way.")
    p_after: float = Field(description="p(desired) with only this feature moved all the way.")


class Probes(BaseModel):
    """The classifier's p(desired) for the person, and the helpful single moves, best first."""

    p_now: float = Field(description="p(desired) for the person as they are.")
    moves: list[Probe] = Field(default_factory=list, description="Moves that raise p, best first.")

    def rotated(self, start: int) -> Probes:
        """The same probes led by the `start`-th one (k > 1: each request leads differently)."""
        moves = self.moves[start:] + self.moves[:start]
        return self.model_copy(update={"moves": moves})


def probe_moves(
    model: ProbabilisticClassifier,
    spec: FeatureSpec,
    query: Mapping[str, Any],
    top: int = 5,
    start: Mapping[str, Any] | None = None,
) -> Probes:
    """Up to `top` single-feature moves that raise p(desired), best first (by the full move).

    Moves go from `start` (the person's row by default; in a revise round, the rejected
    proposal, so the model sees where each further move would take its own change) to the end
    of the step the person is allowed, the moves `search` tries from the same point. The
    half-way value is the one `search`'s coarse shrink grid would try (projected the same way),
    so a CF built from these values is one the search could also have written.
    """
    point = dict(query) if start is None else project(spec, query, start)
    probes: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for feature in spec.features:
        if not feature.is_numeric or feature.actionability == "immutable":
            continue
        span = feature.max_change or (float(feature.high or 0) - float(feature.low or 0)) / 4
        now = float(point[feature.name])
        for sign in (1.0, -1.0):
            target = float(query[feature.name]) + sign * span
            full = project(spec, query, {**point, feature.name: target})
            if full[feature.name] == point[feature.name]:
                continue
            half_value = now + (float(full[feature.name]) - now) / 2
            half = project(spec, query, {**point, feature.name: half_value})
            probes.append((feature.name, half, full))
    rows = [point] + [row for _, half, full in probes for row in (half, full)]
    frame = pd.DataFrame(rows)[spec.feature_names]
    column = int(np.flatnonzero(np.asarray(model.classes_) == spec.desired_class)[0])
    proba = model.predict_proba(frame)[:, column]
    base = float(proba[0])
    scored = [
        (float(proba[2 + 2 * i]), float(proba[1 + 2 * i]), probe) for i, probe in enumerate(probes)
    ]
    scored.sort(key=lambda item: item[0], reverse=True)
    moves = [
        Probe(
            feature=name,
            now=float(point[name]),
            half=float(half[name]),
            to=float(full[name]),
            p_half=p_half,
            p_after=p_full,
        )
        for p_full, p_half, (name, half, full) in scored[:top]
        if p_full > base
    ]
    return Probes(p_now=base, moves=moves)
