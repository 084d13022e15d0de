"""The reviewers' decisions on this query, oldest first, with who, when and why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.widgets import Static

from cf_agent.data.spec import FeatureSpec
from cf_agent.review.history import QueryHistory
from cf_agent.tui.formatting import change_lines, clock_time, verdict_marks

_STYLES = {"accept": "bold green", "reject": "bold red", "edit": "bold yellow"}


class DecisionsView(Static):
    def show(
        self, spec: FeatureSpec | None, factual: Mapping[str, Any] | None, query: QueryHistory
    ) -> None:
        text = Text()
        if not query.decisions:
            text.append("No decisions yet: accept (a), reject (r), edit (e) or note (n).", "dim")
        for decision in query.decisions:
            text.append(f"{clock_time(decision.ts)} UTC  {decision.reviewer}  ")
            text.append(f"{decision.action}\n", style=_STYLES.get(decision.action, "bold"))
            if decision.reason:
                text.append(f"    reason: {decision.reason}\n")
            if decision.note:
                text.append(f"    note: {decision.note}\n")
            if decision.values is not None:
                for line in change_lines(spec, factual, decision.values):
                    text.append(f"    {line}\n", style="dim")
            if decision.verdicts:
                text.append(f"    {verdict_marks(decision.verdicts)}\n", style="dim")
        self.update(text)
