"""The CFs a reviewer can decide on for one query, and the two-line summary above them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.widgets import Static

from cf_agent.review.decisions import REVIEWER_SOURCE
from cf_agent.review.history import QueryHistory, values_key
from cf_agent.tools.verdict import Verdict
from cf_agent.tui.formatting import FAILED_STYLE, PASSED_STYLE

_PAST = {"accept": "accepted", "reject": "rejected"}


@dataclass(frozen=True)
class ShownCF:
    """A CF the reviewer can look at and decide on."""

    values: dict[str, Any]
    source: str
    verdicts: list[Verdict]
    label: str


def reviewable_cfs(query: QueryHistory) -> list[ShownCF]:
    """The agent's CFs (else its best failed proposal), then the reviewers' edits."""
    shown = [
        ShownCF(cf.values, cf.source, cf.verdicts, f"agent CF ({cf.source})")
        for cf in query.counterfactuals
    ]
    best = query.best_failed_step() if not shown else None
    if best is not None and best.values is not None:
        label = f"best failed proposal (round {best.round})"
        shown.append(ShownCF(best.values, best.source, best.verdicts, label))
    seen = {values_key(cf.values) for cf in shown}
    for decision in query.decisions:
        if decision.action != "edit" or decision.values is None:
            continue
        if values_key(decision.values) not in seen:
            seen.add(values_key(decision.values))
            label = f"edited by {decision.reviewer}"
            shown.append(ShownCF(decision.values, REVIEWER_SOURCE, decision.verdicts, label))
    return shown


class ReviewSummary(Static):
    """Two lines: the query's agent and review status; the CF shown and its checks."""

    def show(self, query: QueryHistory, options: list[ShownCF], index: int) -> None:
        self.update(summary_text(query, options, index))


def summary_text(query: QueryHistory, options: list[ShownCF], index: int) -> Text:
    """The summary for `options[index]` (no CF line's checks when there are no options)."""
    cf = options[index] if options else None
    outcome = query.outcome
    agent = f"{query.status}, {outcome.rounds} round(s)" if outcome else query.status
    review_style = {"accepted": PASSED_STYLE, "rejected": FAILED_STYLE}.get(query.review_state, "")
    text = Text()
    text.append(query.query_id, style="bold")
    text.append(f" · agent: {agent} · review: ")
    text.append(query.review_state, style=review_style)
    if cf is None:
        text.append("\nno CF to review: ask the agent for one (g)")
        return text
    text.append(f" · CF {index + 1} of {len(options)}\n")
    text.append(f"{cf.label}: ")
    failed = [v.check for v in cf.verdicts if not v.passed]
    if not cf.verdicts:
        text.append("not verified", style=FAILED_STYLE)
    elif failed:
        text.append(f"✗ failed {', '.join(failed)}", style=FAILED_STYLE)
    else:
        text.append(f"✓ all {len(cf.verdicts)} checks passed", style=PASSED_STYLE)
    decision = query.review_of(cf.values)
    if decision is not None:
        text.append(f" · {_PAST[decision.action]} by {decision.reviewer}")
    return text
