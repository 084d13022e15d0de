"""How the review UI writes values, changes, verdicts and times (rich Text, no widgets)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text

from cf_agent.data.spec import Feature, FeatureSpec
from cf_agent.tools.actionability import as_number, format_number
from cf_agent.tools.verdict import Verdict

PASS_MARK, FAIL_MARK = "✓", "✗"
CHANGED_STYLE = "bold yellow"
FAILED_STYLE = "bold red"
PASSED_STYLE = "green"
_DIRECTIONS = {"immutable": "immutable", "increase_only": "↑ only", "decrease_only": "↓ only"}


def format_plain(value: Any) -> str:
    """A cell value: numbers with thousands separators, everything else as text."""
    if value is None:
        return "—"
    number = as_number(value)
    return format_number(number) if number is not None else str(value)


def format_delta(feature: Feature | None, before: Any, after: Any) -> str:
    """'+3,000 steps/day' for numbers; 'changed' for categories; '' when equal."""
    if before == after or before is None or after is None:
        return ""
    low, high = as_number(before), as_number(after)
    if low is None or high is None:
        return "changed"
    unit = f" {feature.unit}" if feature is not None and feature.unit else ""
    delta = high - low
    return f"{'+' if delta > 0 else '−'}{format_number(abs(delta))}{unit}"


def format_actionability(feature: Feature | None) -> str:
    """'immutable', '↑ only ±5,000', 'free ±60': the direction and largest realistic change."""
    if feature is None:
        return "?"
    text = _DIRECTIONS.get(feature.actionability, "free")
    if feature.max_change is not None and feature.actionability != "immutable":
        text += f" ±{format_number(feature.max_change)}"
    return text


def change_lines(
    spec: FeatureSpec | None, before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> list[str]:
    """'steps 3,991 → 8,491 (+4,500 steps/day)' for each feature that differs."""
    if before is None:
        return [f"{name} = {format_plain(value)}" for name, value in after.items()]
    lines = []
    for name, value in after.items():
        old = before.get(name)
        if old == value:
            continue
        feature = _feature(spec, name)
        delta = format_delta(feature, old, value)
        suffix = f" ({delta})" if delta and delta != "changed" else ""
        lines.append(f"{name} {format_plain(old)} → {format_plain(value)}{suffix}")
    return lines


def _feature(spec: FeatureSpec | None, name: str) -> Feature | None:
    if spec is None:
        return None
    try:
        return spec.feature(name)
    except KeyError:
        return None


def verdict_text(verdicts: Sequence[Verdict], indent: str = "") -> Text:
    """One line per verifier (mark, name, score), then its reasons."""
    text = Text()
    if not verdicts:
        text.append(f"{indent}not verified\n", style="dim")
    for verdict in verdicts:
        mark, style = (PASS_MARK, PASSED_STYLE) if verdict.passed else (FAIL_MARK, FAILED_STYLE)
        text.append(f"{indent}{mark} {verdict.check}", style=style)
        text.append(f"  score {verdict.score:.2f}\n", style="dim")
        meaning = verdict.details.get("predicted_meaning")
        if meaning:
            text.append(f"{indent}    predicts '{meaning}'\n", style="dim")
        for reason in verdict.reasons:
            where = f"{reason.feature}: " if reason.feature else ""
            text.append(f"{indent}    - {where}{reason.message}\n")
    return text


def verdict_marks(verdicts: Sequence[Verdict]) -> str:
    """'✓classifier ✗actionability ✓plausibility'."""
    return " ".join(f"{PASS_MARK if v.passed else FAIL_MARK}{v.check}" for v in verdicts)


def short_time(ts: str) -> str:
    """'2025-06-02 09:00' from an ISO-8601 UTC timestamp."""
    return ts[:16].replace("T", " ")


def clock_time(ts: str) -> str:
    """'06-02 09:00:01' from an ISO-8601 UTC timestamp."""
    return ts[5:19].replace("T", " ")


def change_summary(
    spec: FeatureSpec | None, before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> str:
    """'steps +4,500 steps/day, diet → low_carb': the changes in one short line."""
    if before is None:
        return ""
    parts = []
    for name, value in after.items():
        old = before.get(name)
        if old == value:
            continue
        delta = format_delta(_feature(spec, name), old, value)
        parts.append(f"{name} {delta}" if delta != "changed" else f"{name} → {value}")
    return ", ".join(parts)
