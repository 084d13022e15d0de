"""Factual and counterfactual side by side, one row per feature, changed cells highlighted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from cf_agent.data.spec import FeatureSpec
from cf_agent.tools.verdict import Verdict
from cf_agent.tui.formatting import (
    CHANGED_STYLE,
    FAIL_MARK,
    FAILED_STYLE,
    format_actionability,
    format_delta,
    format_plain,
)
from cf_agent.tui.widgets.columns import add_fitted_columns

# Fits 80 columns, and the table beside the verdicts on wide screens; longer values are cropped.
COLUMNS = {"Feature": 16, "Factual": 12, "CF": 12, "Change": 16, "Can change": 11}


class CFTable(DataTable[Text]):
    """Rows are features (spec order); the cursor row is the feature `e` edits."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        add_fitted_columns(self, COLUMNS, self.app.size.width)

    def show(
        self,
        spec: FeatureSpec | None,
        factual: Mapping[str, Any] | None,
        cf: Mapping[str, Any] | None,
        verdicts: Sequence[Verdict],
    ) -> None:
        """Redraw for one CF; features a failed verifier names are marked ✗ in red."""
        row_before = self.cursor_row
        self.clear()
        names = spec.feature_names if spec is not None else list(cf or factual or {})
        flagged = {r.feature for v in verdicts if not v.passed for r in v.reasons if r.feature}
        for name in names:
            feature = spec.feature(name) if spec is not None else None
            before = factual.get(name) if factual is not None else None
            after = cf.get(name) if cf is not None else None
            changed = factual is not None and cf is not None and before != after
            style = CHANGED_STYLE if changed else ""
            label = (
                Text(f"{FAIL_MARK} {name}", style=FAILED_STYLE) if name in flagged else Text(name)
            )
            self.add_row(
                label,
                Text(format_plain(before), justify="right"),
                Text(format_plain(after), style=style, justify="right"),
                Text(format_delta(feature, before, after), style=style),
                Text(format_actionability(feature), style="dim"),
                key=name,
            )
        if self.row_count:
            self.move_cursor(row=min(row_before, self.row_count - 1))

    @property
    def highlighted_feature(self) -> str | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None
