"""Turn raw LLM text into a counterfactual row, or into feedback the LLM can act on.

Never raises on model output: garbage, refusals, partial JSON, NaN or hostile text all become
an error message that is sent back in the revise prompt.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from cf_agent.data.spec import FeatureSpec, SumRule

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
MAX_RATIONALE = 500


class ParsedAnswer(BaseModel):
    """The outcome of parsing one answer."""

    values: dict[str, Any] | None = Field(description="Full CF row, or None when unusable.")
    rationale: str = Field(default="", description="The model's rationale, truncated.")
    problems: list[str] = Field(default_factory=list, description="What was wrong with the text.")


def _first_json_object(text: str) -> dict[str, Any] | None:
    fenced = _FENCE.search(text)
    candidates = [fenced.group(1)] if fenced else []
    candidates.append(text)
    decoder = json.JSONDecoder()
    for chunk in candidates:
        for start in (m.start() for m in re.finditer(r"\{", chunk)):
            try:
                obj, _ = decoder.raw_decode(chunk, start)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    return None


def _coerce(spec: FeatureSpec, name: str, value: Any) -> tuple[Any, str | None]:
    feature = spec.feature(name)
    if feature.kind == "categorical":
        if isinstance(value, str) and value in (feature.categories or ()):
            return value, None
        return None, f"{name} must be one of {list(feature.categories or ())}, got {value!r:.40}"
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, str):
        try:
            value = float(value.replace(",", "").strip())
        except ValueError:
            return None, f"{name} must be a number, got text {value!r:.40}"
    if not isinstance(value, int | float):
        return None, f"{name} must be a number, got {type(value).__name__}"
    if not math.isfinite(value):
        return None, f"{name} must be a finite number, got {value}"
    if feature.kind in ("int", "bool") and float(value).is_integer():
        return int(value), None
    return float(value), None


def _derive_totals(spec: FeatureSpec, answer: Mapping[str, Any], values: dict[str, Any]) -> None:
    """A sum rule's total follows its parts when the answer changes parts but omits the total:
    the total is arithmetic, not a choice, and answers name only what they change."""
    for rule in spec.rules:
        if not isinstance(rule, SumRule) or rule.total in answer:
            continue
        if any(part in answer for part in rule.parts):
            try:
                total = sum(float(values[part]) for part in rule.parts)
            except (TypeError, ValueError):
                continue
            values[rule.total] = round(total) if spec.feature(rule.total).kind == "int" else total


def parse_answer(spec: FeatureSpec, query: Mapping[str, Any], text: str) -> ParsedAnswer:
    """Merge the answer's feature values over the query row; report every problem found."""
    if not text.strip():
        return ParsedAnswer(values=None, problems=["the answer was empty: reply with JSON"])
    obj = _first_json_object(text)
    if obj is None:
        return ParsedAnswer(
            values=None,
            problems=["the answer contained no JSON object: reply with one JSON object only"],
        )
    names = set(spec.feature_names)
    problems: list[str] = []
    values = {name: query[name] for name in spec.feature_names}
    changed = 0
    bad_values = False
    for key, raw in obj.items():
        if key == "rationale":
            continue
        if key not in names:
            problems.append(f"unknown key {key!r:.40} ignored: use only the feature names")
            continue
        value, problem = _coerce(spec, key, raw)
        if problem:
            problems.append(problem)
            bad_values = True
            continue
        values[key] = value
        changed += 1
    if changed == 0 and not problems:
        problems.append("the answer named no feature: give the new value of each feature")
    _derive_totals(spec, obj, values)
    rationale = obj.get("rationale", "")
    rationale = rationale[:MAX_RATIONALE] if isinstance(rationale, str) else ""
    usable = changed > 0 and not bad_values
    return ParsedAnswer(values=values if usable else None, rationale=rationale, problems=problems)
