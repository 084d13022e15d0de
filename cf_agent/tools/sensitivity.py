"""Which single-feature moves raise the desired class's probability most, from this row.

A deterministic hint for revise prompts: it probes the classifier at each changeable feature's
largest allowed step and reports the best few, so a small LLM learns which way to move.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cf_agent.data.spec import FeatureSpec
from cf_agent.tools.classifier_check import ProbabilisticClassifier
from cf_agent.tools.projection import project


def sensitivity_hints(
    model: ProbabilisticClassifier,
    spec: FeatureSpec,
    query: Mapping[str, Any],
    top: int = 3,
) -> list[str]:
    """Up to `top` lines like 'raise steps (steps/day) toward 13,200: p(desired) 0.31 -> 0.52'."""
    probes: list[tuple[str, str, dict[str, Any]]] = []
    for feature in spec.features:
        if not feature.is_numeric or feature.actionability == "immutable":
            continue
        span = feature.max_change or (float(feature.high or 0) - float(feature.low or 0)) / 4
        for sign, verb in ((1.0, "raise"), (-1.0, "lower")):
            moved = dict(query)
            moved[feature.name] = float(query[feature.name]) + sign * span
            row = project(spec, query, moved)
            if row[feature.name] != query[feature.name]:
                probes.append((feature.name, verb, row))
    if not probes:
        return []
    frame = pd.DataFrame([dict(query)] + [row for _, _, row in probes])[spec.feature_names]
    column = int(np.flatnonzero(np.asarray(model.classes_) == spec.desired_class)[0])
    proba = model.predict_proba(frame)[:, column]
    base = float(proba[0])
    gains = sorted(
        zip(proba[1:] - base, probes, strict=True), key=lambda item: item[0], reverse=True
    )
    lines = []
    for gain, (name, verb, row) in gains[:top]:
        if gain <= 0:
            break
        unit = spec.feature(name).unit
        lines.append(
            f"{verb} {name} toward {row[name]:,.10g}{' ' + unit if unit else ''}: "
            f"p({spec.classes[spec.desired_class]}) {base:.2f} -> {base + gain:.2f}"
        )
    return lines
