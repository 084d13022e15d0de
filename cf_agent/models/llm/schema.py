"""The JSON schema of a counterfactual answer, built from the spec (no torch needed here)."""

from __future__ import annotations

import copy
import math
from typing import Any

from cf_agent.data.spec import Feature, FeatureSpec

RATIONALE_MAX_LENGTH = 80
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


def counterfactual_json_schema(spec: FeatureSpec) -> dict[str, Any]:
    """Changeable features in spec order (typed, ranged, optional), then a required rationale.

    Compact by design: an answer names only the features it changes (parse_answer keeps the
    person's other values), so a sparse CF costs a few dozen tokens instead of the whole row.
    """
    properties = {
        f.name: _feature_schema(f) for f in spec.features if f.actionability != "immutable"
    }
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
            magnitude = math.floor(math.log10(width)) if width > 0 else 0
            decimals = min(max(3 - magnitude, 1), MAX_DECIMALS)
            prop["multipleOf"] = 10.0**-decimals
    return schema
