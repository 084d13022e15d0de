"""A reviewer's typed value, turned into a feature value the verifiers accept.

The text is parsed by the feature's kind only; whether the value is allowed (range, direction,
size of the change) is the verifiers' job, so a reviewer sees the same reasons the agent saw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cf_agent.data.spec import Feature, FeatureSpec
from cf_agent.errors import CfAgentError

_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}


def parse_value(feature: Feature, text: str) -> Any:
    """`text` as a value of `feature`: int, float, a listed category or 0/1."""
    raw = text.strip().replace(",", "") if feature.is_numeric else text.strip()
    if feature.kind == "categorical":
        categories = feature.categories or ()
        if raw not in categories:
            raise CfAgentError(
                f"{feature.name} cannot be {raw!r}", f"use one of: {', '.join(categories)}"
            )
        return raw
    if feature.kind == "bool":
        if raw.lower() in _TRUE:
            return 1
        if raw.lower() in _FALSE:
            return 0
        raise CfAgentError(f"{feature.name} cannot be {raw!r}", "use 1 or 0")
    try:
        number = float(raw)
    except ValueError:
        raise CfAgentError(
            f"{feature.name} needs a number, not {raw!r}", "type digits, e.g. 8200 or 27.5"
        ) from None
    if not math.isfinite(number):
        raise CfAgentError(f"{feature.name} needs a finite number", "type digits, e.g. 8200")
    if feature.kind == "int":
        if number != round(number):
            raise CfAgentError(
                f"{feature.name} takes whole numbers, not {raw}", f"e.g. {round(number)}"
            )
        return round(number)
    return number


def edit_values(
    spec: FeatureSpec, values: Mapping[str, Any], name: str, text: str
) -> dict[str, Any]:
    """A copy of the CF row with feature `name` set to the parsed `text`."""
    try:
        feature = spec.feature(name)
    except KeyError:
        raise CfAgentError(
            f"{name!r} is not a feature of this run's spec", "pick a feature from the table"
        ) from None
    return {**values, name: parse_value(feature, text)}
