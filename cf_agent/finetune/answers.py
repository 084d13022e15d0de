"""Training targets: a verified CF as the compact JSON answer the constrained decoder can emit.

Only changed features, in spec order, then a rationale; ints for int features, floats with the
decimals `with_short_numbers` allows, and the separators the decoder's grammar uses. A CF is
rounded to that form *before* it is verified, so the target the model learns is itself valid.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from cf_agent.data.spec import Feature, FeatureSpec, SumRule
from cf_agent.models.llm.constrained import JSON_COMPILE_OPTIONS
from cf_agent.models.llm.schema import (
    RATIONALE_MAX_LENGTH,
    counterfactual_json_schema,
    with_short_numbers,
)
from cf_agent.tools.metrics import changed_features
from cf_agent.tools.rationale import direction_rationale

# llguidance's defaults when no separator is configured (see JsonCompileOptions).
ANSWER_SEPARATORS = (
    JSON_COMPILE_OPTIONS.get("item_separator") or ",",
    JSON_COMPILE_OPTIONS.get("key_separator") or ":",
)


def answer_decimals(spec: FeatureSpec) -> dict[str, int]:
    """Decimals each float feature may carry in an answer, read off the decoder's schema."""
    schema = with_short_numbers(counterfactual_json_schema(spec))
    decimals = {}
    for name, prop in schema["properties"].items():
        if prop.get("type") == "number" and "multipleOf" in prop:
            decimals[name] = max(0, round(-math.log10(float(prop["multipleOf"]))))
    return decimals


def _emittable(feature: Feature, value: Any, decimals: Mapping[str, int]) -> Any:
    if feature.kind == "categorical":
        return str(value)
    if feature.kind in ("int", "bool"):
        return round(float(value))
    rounded = round(float(value), decimals.get(feature.name, 4))
    return int(rounded) if rounded.is_integer() else rounded


def emittable_cf(
    spec: FeatureSpec, row: Mapping[str, Any], cf: Mapping[str, Any]
) -> dict[str, Any]:
    """The CF as the decoder could write it: changed features rounded, the rest the person's."""
    decimals = answer_decimals(spec)
    out = {name: row[name] for name in spec.feature_names}
    for name in changed_features(spec, row, cf):
        feature = spec.feature(name)
        if feature.actionability == "immutable":
            out[name] = cf[name]  # kept as is: the actionability verifier will reject it
            continue
        out[name] = _emittable(feature, cf[name], decimals)
    return out


def answer_text(spec: FeatureSpec, row: Mapping[str, Any], cf: Mapping[str, Any]) -> str:
    """The compact JSON answer for an emittable CF: changed features in spec order, rationale.

    A sum rule's total is left out when parts change: the parser derives it from them.
    """
    changed = changed_features(spec, row, cf)
    derived = {
        rule.total
        for rule in spec.rules
        if isinstance(rule, SumRule) and any(part in changed for part in rule.parts)
    }
    answer: dict[str, Any] = {name: cf[name] for name in changed if name not in derived}
    answer["rationale"] = direction_rationale(spec, row, cf, RATIONALE_MAX_LENGTH)
    return json.dumps(answer, separators=ANSWER_SEPARATORS, ensure_ascii=False)
