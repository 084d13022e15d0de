"""Each verifier's verdict on the CF under review, with its reasons."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from cf_agent.tools.verdict import Verdict
from cf_agent.tui.formatting import FAILED_STYLE, PASSED_STYLE, verdict_text


class VerdictPanel(Static):
    """'All checks passed' or which failed, then one block per verifier."""

    def show(self, label: str, verdicts: Sequence[Verdict], factual_source: str = "") -> None:
        text = Text(f"{label}\n", style="bold")
        if verdicts:
            failed = [v.check for v in verdicts if not v.passed]
            if failed:
                text.append(f"failed: {', '.join(failed)}\n", style=FAILED_STYLE)
            else:
                text.append("all checks passed\n", style=PASSED_STYLE)
        text.append_text(verdict_text(verdicts))
        if factual_source:
            text.append(f"factual row from the {factual_source}", style="dim")
        self.update(text)
