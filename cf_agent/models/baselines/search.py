"""`search`: cf-agent's own deterministic search from the person's row, with no LLM.

The same greedy search that refinement runs (tools/refine.py: add the single allowed move that
raises p(desired) most until the classifier flips, then shrink every change back as far as
validity allows), offered as a method in its own right: a baseline the LLM must beat, and the
teacher whose CFs the embedded model is fine-tuned on. With `margin`, the shrink stops while the
desired class still leads by that margin, so a CF lands safely past the boundary rather than on
it. With grid "half", each change is kept whole, halved or reverted (the values the compact
prompt's probes show: the fine-tuning teacher); "fine" tries tenths. For k > 1, each further
CF is searched without the first feature each earlier one changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from cf_agent.data.spec import FeatureSpec
from cf_agent.models.baselines.base import BaselineProposer
from cf_agent.models.classifier import ClassifierBundle
from cf_agent.tools.classifier_check import ClassifierCheck
from cf_agent.tools.metrics import changed_features
from cf_agent.tools.refine import HALF_GRID, SHRINK, complete_greedily

SearchGrid = Literal["fine", "half"]


class SearchProposer(BaselineProposer):
    """Greedy single-move search + shrink from the person's own row (no LLM input)."""

    def __init__(
        self,
        spec: FeatureSpec,
        bundle: ClassifierBundle,
        time_limit_s: float = 30.0,
        seed: int = 0,
        margin: float = 0.0,
        grid: SearchGrid = "fine",
    ) -> None:
        if grid not in ("fine", "half"):
            raise ValueError(f"unknown search grid {grid!r}; use fine or half")
        super().__init__("search", spec, bundle, time_limit_s=time_limit_s, seed=seed)
        self.margin = margin
        self.grid = grid
        self.check_ = ClassifierCheck(self.model, spec, margin=margin)

    def search_from(
        self,
        row: Mapping[str, Any],
        start: Mapping[str, Any],
        exclude: frozenset[str] | set[str] = frozenset(),
    ) -> dict[str, Any] | None:
        """The search continued from `start` (e.g. a rejected proposal), never moving a feature
        in `exclude`: the fine-tuning teacher's answer to a revise prompt, whose probes go from
        that same point."""
        return complete_greedily(
            self.spec, self.check_, row, start, exclude=exclude, grid=self._grid
        )

    @property
    def _grid(self) -> np.ndarray:
        return HALF_GRID if self.grid == "half" else SHRINK

    def _search(self, row: dict[str, Any], count: int, seed: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        excluded: set[str] = set()
        for _ in range(count):
            point = complete_greedily(
                self.spec,
                self.check_,
                row,
                row,
                exclude=excluded,
                grid=self._grid,
            )
            if point is None:
                break
            changed = changed_features(self.spec, row, point)
            if not changed or point in found:
                break
            found.append(point)
            excluded.add(changed[0])
        return found
