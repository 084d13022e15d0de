"""The JSON schema of a counterfactual answer, built from the spec."""

from __future__ import annotations

from typing import Any

from cf_agent.data.spec import FeatureSpec


def counterfactual_json_schema(spec: FeatureSpec) -> dict[str, Any]:
    """Changeable features in spec order (typed, ranged), then a short rationale."""
    properties: dict[str, Any] = {}
    for f in spec.features:
        if f.actionability == "immutable":
            continue
        if f.kind == "categorical":
            properties[f.name] = {"type": "string", "enum": list(f.categories or ())}
        elif f.kind == "bool":
            properties[f.name] = {"type": "integer", "enum": [0, 1]}
        else:
            properties[f.name] = {
                "type": "integer" if f.kind == "int" else "number",
                "minimum": f.low,
                "maximum": f.high,
            }
    properties["rationale"] = {"type": "string", "maxLength": 160}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
