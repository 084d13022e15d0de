"""A rationale that describes a CF's own change, for CFs no LLM wrote in their final form.

A refined or searched CF must not carry an LLM's text about other values: its rationale names
exactly the changes it makes, with units, within the answer schema's length limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cf_agent.data.spec import Feature, FeatureSpec
from cf_agent.tools.actionability import format_number
from cf_agent.tools.metrics import changed_features

RATIONALE_MAX_LENGTH = 80


def describe_delta(feature: Feature, delta: float) -> str:
    """'+38 min/night' or '-2,600 steps/day'."""
    sign = "+" if delta > 0 else ("-" if delta < 0 else "")
    unit = f" {feature.unit}" if feature.unit else ""
    return f"{sign}{format_number(abs(delta), 3)}{unit}"


def _clause(feature: Feature, before: Any, after: Any) -> str:
    if not feature.is_numeric:
        return f"{feature.name} to {after}"
    return f"{feature.name} {describe_delta(feature, float(after) - float(before))}"


def _fit(clauses: list[str], max_length: int) -> str:
    """Clauses joined into one sentence; what does not fit is 'and N more'."""
    if not clauses:
        return "No change."
    for kept in range(len(clauses), 0, -1):
        text = ", ".join(clauses[:kept])
        if kept < len(clauses):
            text += f" and {len(clauses) - kept} more"
        text = text[0].upper() + text[1:] + "."
        if len(text) <= max_length:
            return text
    return (clauses[0][0].upper() + clauses[0][1:])[: max_length - 1] + "."


def direction_rationale(
    spec: FeatureSpec,
    row: Mapping[str, Any],
    cf: Mapping[str, Any],
    max_length: int = RATIONALE_MAX_LENGTH,
) -> str:
    """'Raise steps, lower glucose_cv.': the directions alone, the form a small model is
    trained to write (it reads them off its prompt; exact amounts would need arithmetic)."""
    clauses = []
    for name in changed_features(spec, row, cf):
        feature = spec.feature(name)
        if not feature.is_numeric:
            clauses.append(f"set {name} to {cf[name]}")
        else:
            clauses.append(f"{'raise' if float(cf[name]) > float(row[name]) else 'lower'} {name}")
    return _fit(clauses, max_length)


def change_rationale(
    spec: FeatureSpec,
    row: Mapping[str, Any],
    cf: Mapping[str, Any],
    max_length: int = RATIONALE_MAX_LENGTH,
) -> str:
    """'Steps +2,400 steps/day, bmi -1.5 kg/m2.'; what does not fit is 'and N more'."""
    clauses = [_clause(spec.feature(n), row[n], cf[n]) for n in changed_features(spec, row, cf)]
    return _fit(clauses, max_length)
