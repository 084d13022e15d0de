"""How the agent got there: each attempt, each round's proposal, its verdicts, the feedback."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.widgets import Static

from cf_agent.data.spec import FeatureSpec
from cf_agent.review.history import Attempt, QueryHistory, Step
from cf_agent.tui.formatting import (
    FAILED_STYLE,
    PASSED_STYLE,
    change_lines,
    short_time,
    verdict_text,
)


def _attempt_heading(number: int, attempt: Attempt) -> str:
    origin = f"asked for by {attempt.requested_by}" if attempt.requested_by else "batch run"
    if attempt.outcome is None:
        return f"Attempt {number} · {origin} · no outcome yet"
    outcome = attempt.outcome
    return (
        f"Attempt {number} · {origin} · {outcome.status} after {outcome.rounds} round(s)"
        f" · {short_time(outcome.ts)} UTC"
    )


def _step_text(spec: FeatureSpec | None, factual: Mapping[str, Any] | None, step: Step) -> Text:
    text = Text()
    if step.passed is None:
        verdict, style = "not verified yet", "dim"
    else:
        verdict, style = ("passed", PASSED_STYLE) if step.passed else ("failed", FAILED_STYLE)
    text.append(f"  Round {step.round} · {step.source} · ", style="bold")
    text.append(f"{verdict}\n", style=style)
    if step.values is None:
        text.append(f"    no usable CF: {step.error or 'refinement point not logged'}\n")
        if step.raw_output:
            text.append(f"    answer: {step.raw_output[:200]}\n", style="dim")
    else:
        changed = change_lines(spec, factual, step.values) or ["no change"]
        for line in changed:
            text.append(f"    {line}\n")
    if step.rationale:
        text.append(f"    rationale: {step.rationale}\n", style="italic")
    if step.verdicts:
        text.append_text(verdict_text(step.verdicts, indent="    "))
    if step.feedback:
        text.append("    feedback sent back:\n", style="bold")
        for line in step.feedback.splitlines():
            text.append(f"      {line}\n")
    return text


class HistoryView(Static):
    """The query's attempts in order; a reviewer's request starts a new attempt."""

    def show(
        self, spec: FeatureSpec | None, factual: Mapping[str, Any] | None, query: QueryHistory
    ) -> None:
        text = Text()
        if not query.attempts:
            text.append("No agent events for this query.", style="dim")
        for number, attempt in enumerate(query.attempts, start=1):
            text.append(_attempt_heading(number, attempt) + "\n", style="bold underline")
            for step in attempt.steps:
                text.append_text(_step_text(spec, factual, step))
            text.append("\n")
        self.update(text)
