"""Actionability: could a person really get from the query row to the candidate row?

Checks every feature against the spec: immutables unchanged, the allowed direction, the
largest realistic change, the physiological range, whole numbers, known categories, 0/1
flags, and values that are missing or not numbers at all. Each violation is one Reason that
names the feature and the numbers, so an LLM can fix exactly that.

The row-level value checks (`value_problem`, `unusable_reasons`) also guard the classifier
and plausibility checks: a row they reject cannot be scored at all.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cf_agent.data.spec import Feature, FeatureSpec
from cf_agent.errors import DataError
from cf_agent.tools.verdict import Reason, Verdict, VerifierName

FLOAT_TOLERANCE = 1e-9


def format_number(value: float, significant: int = 4) -> str:
    """A number as people write it: '8,200', '27.35', '0.1235' (trailing zeros dropped)."""
    if not math.isfinite(value):
        return str(value)
    if value == round(value) and abs(value) < 1e15:
        return f"{round(value):,}"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = min(max(1, significant - 1 - magnitude), 15)
    return f"{value:,.{decimals}f}".rstrip("0").rstrip(".")


def as_number(value: Any) -> float | None:
    """value as a finite float, or None for strings, None, NaN, inf and other non-numbers."""
    if isinstance(value, np.bool_):
        return float(value)
    if not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def format_value(feature: Feature, value: Any, significant: int = 4) -> str:
    """A value with the spec's unit, e.g. '8,200 steps/day'; categories quoted."""
    number = as_number(value)
    if feature.kind == "categorical" or number is None:
        return repr(value)
    text = format_number(number, significant)
    return f"{text} {feature.unit}" if feature.unit else text


def value_problem(feature: Feature, value: Any) -> str | None:
    """Why value cannot be a value of feature at all (wrong type, NaN, unknown category)."""
    if feature.kind == "categorical":
        if isinstance(value, str) and value in (feature.categories or ()):
            return None
        return f"{feature.name} must be {feature.describe_range()}: {value!r} proposed"
    number = as_number(value)
    if feature.kind == "bool":
        if number in (0.0, 1.0):
            return None
        return f"{feature.name} must be 0 or 1: {value!r} proposed"
    if number is None or isinstance(value, bool | np.bool_):
        return (
            f"{feature.name} must be a finite number ({feature.describe_range()}): "
            f"{value!r} proposed"
        )
    return None


def unusable_reasons(spec: FeatureSpec, row: Mapping[str, Any]) -> list[Reason]:
    """Missing features and values of the wrong type: what stops a row from being scored."""
    reasons = []
    for feature in spec.features:
        if feature.name not in row:
            message = f"{feature.name} is missing: give a value ({feature.describe_range()})"
            reasons.append(Reason(feature=feature.name, message=message))
            continue
        problem = value_problem(feature, row[feature.name])
        if problem is not None:
            reasons.append(Reason(feature=feature.name, message=problem))
    return reasons


def require_usable_query(spec: FeatureSpec, query: Mapping[str, Any]) -> None:
    """The factual row must be complete and well-typed; anything else is a data bug."""
    reasons = unusable_reasons(spec, query)
    if reasons:
        raise DataError(
            "the query row cannot be checked: " + "; ".join(r.message for r in reasons),
            "pass a factual row with a valid value for every feature in the spec",
        )


def _numeric_violations(feature: Feature, before: float, after: float) -> list[str]:
    name = feature.name
    was, now = format_value(feature, before), format_value(feature, after)
    if feature.actionability == "immutable":
        if abs(after - before) <= FLOAT_TOLERANCE:
            return []
        if was == now:
            was, now = format_value(feature, before, 12), format_value(feature, after, 12)
        return [f"{name} must stay {was} (it cannot be changed): {now} proposed"]
    problems = []
    if feature.actionability == "increase_only" and after < before - FLOAT_TOLERANCE:
        problems.append(f"{name} may only rise from {was}: {now} proposed; keep it >= {was}")
    if feature.actionability == "decrease_only" and after > before + FLOAT_TOLERANCE:
        problems.append(f"{name} may only fall from {was}: {now} proposed; keep it <= {was}")
    step = feature.max_change
    if step is not None and abs(after - before) > step + FLOAT_TOLERANCE:
        problems.append(_max_change_problem(feature, before, after, step))
    low, high = feature.low, feature.high
    if low is not None and high is not None and not low <= after <= high:
        problems.append(f"{name} must be within {feature.describe_range()}: {now} proposed")
    if feature.kind == "int" and abs(after - round(after)) > FLOAT_TOLERANCE:
        problems.append(
            f"{name} must be a whole number: {format_value(feature, after, 12)} proposed"
        )
    return problems


def _max_change_problem(feature: Feature, before: float, after: float, step: float) -> str:
    lowest, highest = feature.reachable(before)
    verb = {"increase_only": "rise", "decrease_only": "fall"}.get(feature.actionability, "change")
    return (
        f"{feature.name} may {verb} at most {format_value(feature, step)} from "
        f"{format_value(feature, before)}: {format_value(feature, after)} proposed "
        f"(allowed {format_number(lowest)} to {format_value(feature, highest)})"
    )


def feature_violations(feature: Feature, before: Any, candidate: Mapping[str, Any]) -> list[str]:
    """Every way the candidate's value of feature breaks the spec, given the factual value."""
    if feature.name not in candidate:
        return [f"{feature.name} is missing: give a value ({feature.describe_range()})"]
    after = candidate[feature.name]
    problem = value_problem(feature, after)
    if problem is not None:
        return [problem]
    if feature.kind == "categorical":
        if feature.actionability == "immutable" and after != before:
            return [
                f"{feature.name} must stay {before!r} (it cannot be changed): {after!r} proposed"
            ]
        return []
    return _numeric_violations(feature, float(before), float(after))


class ActionabilityCheck:
    """Verifier: does the candidate respect immutability, direction, step size and domain?"""

    name: VerifierName = "actionability"

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec

    def check(self, query: Mapping[str, Any], candidate: Mapping[str, Any]) -> Verdict:
        require_usable_query(self.spec, query)
        reasons: list[Reason] = []
        n_bad_features = 0
        for feature in self.spec.features:
            problems = feature_violations(feature, query[feature.name], candidate)
            n_bad_features += bool(problems)
            reasons.extend(Reason(feature=feature.name, message=p) for p in problems)
        known = set(self.spec.feature_names)
        unknown = [key for key in candidate if key not in known]
        for key in unknown:
            message = f"{key} is not a feature of this model: remove it"
            reasons.append(Reason(feature=key, message=message))
        n_named = len(known) + len(unknown)
        score = 1.0 - (n_bad_features + len(unknown)) / n_named
        return Verdict(
            check=self.name,
            passed=not reasons,
            score=score,
            reasons=tuple(reasons),
            details={"n_violations": float(len(reasons))},
        )

    def check_many(
        self, query: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]]
    ) -> list[Verdict]:
        return [self.check(query, candidate) for candidate in candidates]
