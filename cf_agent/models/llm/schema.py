"""The JSON schema of a counterfactual answer, built from the spec (no torch needed here)."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from cf_agent.data.spec import Feature, FeatureSpec
from cf_agent.tools.rationale import RATIONALE_MAX_LENGTH

# Decimals a ranged number may carry: about 3 significant digits of its range, at most 4
# (projection rounds to 4), so that 34.2 costs 4 tokens and never runs on as 34.2000001...
MAX_DECIMALS = 4


def _feature_schema(feature: Feature) -> dict[str, Any]:
    unit = f" [{feature.unit}]" if feature.unit else ""
    described: dict[str, Any] = {"description": feature.description + unit}
    if feature.kind == "categorical":
        return {"type": "string", "enum": list(feature.categories or ()), **described}
    if feature.kind == "bool":
        return {"type": "integer", "enum": [0, 1], **described}
    low, high = float(feature.low or 0.0), float(feature.high or 0.0)
    if feature.kind == "int":
        return {
            "type": "integer",
            "minimum": math.ceil(low),
            "maximum": math.floor(high),
            **described,
        }
    return {"type": "number", "minimum": low, "maximum": high, **described}


def _decimals(width: float) -> int:
    """Decimals for numbers spanning `width`: about 3 significant digits, at most MAX_DECIMALS."""
    magnitude = math.floor(math.log10(width)) if width > 0 else 0
    return min(max(3 - magnitude, 1), MAX_DECIMALS)


def _reachable_bounds(feature: Feature, factual: float) -> tuple[float, float] | None:
    """The feature's reachable interval from `factual`, rounded inward to what the decoder
    writes (whole numbers, or the decimals of its range); None when it cannot move at all."""
    low, high = feature.reachable(factual)
    if feature.kind == "int":
        low, high = math.ceil(low - 1e-9), math.floor(high + 1e-9)
    else:
        scale = 10.0 ** _decimals(float(feature.high or 0.0) - float(feature.low or 0.0))
        low = math.ceil(round(low * scale, 6)) / scale
        high = math.floor(round(high * scale, 6)) / scale
    return (low, high) if low < high else None


def counterfactual_json_schema(
    spec: FeatureSpec, row: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Changeable features in spec order (typed, ranged, optional), then a required rationale.

    Compact by design: an answer names only the features it changes (parse_answer keeps the
    person's other values), so a sparse CF costs a few dozen tokens instead of the whole row.
    Given the person's `row`, each numeric range narrows to where one intervention may take
    them (direction, largest step), so constrained decoding cannot propose an unactionable
    value; features that cannot move are left out.
    """
    properties = {}
    for feature in spec.features:
        if feature.actionability == "immutable":
            continue
        prop = _feature_schema(feature)
        if row is not None and feature.is_numeric:
            bounds = _reachable_bounds(feature, float(row[feature.name]))
            if bounds is None:
                continue
            prop["minimum"], prop["maximum"] = bounds
        properties[feature.name] = prop
    properties["rationale"] = {
        "type": "string",
        "maxLength": RATIONALE_MAX_LENGTH,
        "description": "One short sentence on why this change is realistic.",
    }
    return {
        "type": "object",
        "properties": properties,
        "required": ["rationale"],
        "additionalProperties": False,
    }


def with_short_numbers(json_schema: dict[str, Any]) -> dict[str, Any]:
    """A copy whose ranged numbers carry few decimals (a stricter schema: output still validates).

    Only for our own decoder: a decimal multipleOf in the public schema would make standard
    validators reject valid answers (jsonschema computes 34.12 / 0.01 = 3411.9999...).
    """
    schema = copy.deepcopy(json_schema)
    for prop in schema.get("properties", {}).values():
        is_ranged_number = prop.get("type") == "number" and "minimum" in prop and "maximum" in prop
        if is_ranged_number and "multipleOf" not in prop:
            width = float(prop["maximum"]) - float(prop["minimum"])
            prop["multipleOf"] = 10.0 ** -_decimals(width)
    return schema
