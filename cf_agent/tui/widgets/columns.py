"""Fixed column widths for tables, one column taking what the terminal has left.

DataTable sizes columns from their content on idle; fixed widths make every screen lay out the
same at once (and in snapshots), and keep an 80-column terminal free of sideways scrolling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.widgets import DataTable

SCROLLBAR_WIDTH = 2


def add_fitted_columns(
    table: DataTable[Any], columns: Mapping[str, int | None], width: int, min_flex: int = 12
) -> None:
    """Add `columns` (label -> width); the one with width None gets the rest of `width`."""
    fixed = sum(w for w in columns.values() if w is not None)
    padding = 2 * table.cell_padding * len(columns) + SCROLLBAR_WIDTH
    flex = max(min_flex, width - fixed - padding)
    for label, column_width in columns.items():
        table.add_column(label, key=label, width=flex if column_width is None else column_width)
