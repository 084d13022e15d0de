"""`probes`: the best CF made only of the single-feature probes the compact prompt shows.

The compact prompt shows a person's top `top` probes (tools/sensitivity.py: one feature moved
half-way or all the way, and where p(desired) went), strongest first. This method tries every
combination of them, each feature moved half-way or whole, and returns those the classifier
accepts (by `margin`): first the prefixes of the list with every probe whole (the first probe,
the first two, ...), shortest first; then the other combinations, fewest features first, then
the closest. It is the fine-tuning teacher for the first round: its answer uses nothing the
prompt does not show, and "the first k probes, whole" is one rule a small model can learn from
the prompt alone; and it measures how far the prompt's information alone can go.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from cf_agent.data.spec import FeatureSpec
from cf_agent.models.baselines.base import BaselineProposer
from cf_agent.models.classifier import ClassifierBundle
from cf_agent.tools.classifier_check import ClassifierCheck
from cf_agent.tools.metrics import changed_features, proximity_l2_range
from cf_agent.tools.projection import project
from cf_agent.tools.sensitivity import PROBES_SHOWN, Probe, probe_moves


class ProbesProposer(BaselineProposer):
    """Every whole/half combination of the shown probes that flips: the shortest prefix of
    whole probes first, then the sparsest, closest others."""

    def __init__(
        self,
        spec: FeatureSpec,
        bundle: ClassifierBundle,
        time_limit_s: float = 30.0,
        seed: int = 0,
        margin: float = 0.0,
        top: int = PROBES_SHOWN,
    ) -> None:
        if top < 1:
            raise ValueError(f"top must be at least 1, got {top}")
        super().__init__("probes", spec, bundle, time_limit_s=time_limit_s, seed=seed)
        self.margin = margin
        self.top = top
        self.check_ = ClassifierCheck(self.model, spec, margin=margin)

    def _search(self, row: dict[str, Any], count: int, seed: int) -> list[dict[str, Any]]:
        moves = probe_moves(self.model, self.spec, row, top=self.top).moves
        combos = probe_combinations(self.spec, row, moves)
        if not combos:
            return []
        verdicts = self.check_.check_many(row, combos)
        passing = [c for c, v in zip(combos, verdicts, strict=True) if v.passed]
        prefixes = probe_prefixes(self.spec, row, moves)
        passing.sort(
            key=lambda c: (
                prefixes.index(c) if c in prefixes else len(prefixes),
                len(changed_features(self.spec, row, c)),
                proximity_l2_range(self.spec, row, c),
            )
        )
        return passing[:count]

    def prefixes_from(
        self, row: Mapping[str, Any], start: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """The prefix rule continued from `start` (a rejected change): the prefixes of the
        probes a revise prompt shows from there that the classifier accepts, shortest first."""
        moves = probe_moves(self.model, self.spec, row, top=self.top, start=start).moves
        prefixes = probe_prefixes(self.spec, row, moves, start=start)
        if not prefixes:
            return []
        verdicts = self.check_.check_many(row, prefixes)
        return [p for p, v in zip(prefixes, verdicts, strict=True) if v.passed]


def probe_prefixes(
    spec: FeatureSpec,
    row: Mapping[str, Any],
    moves: Sequence[Probe],
    start: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The first probe whole, the first two whole, ...: from `start` (default: the person's
    row), projected onto the person's allowed values like `probe_combinations`."""
    base = row if start is None else start
    return [
        project(spec, row, {**base, **{m.feature: m.to for m in moves[:k]}})
        for k in range(1, len(moves) + 1)
    ]


def probe_combinations(
    spec: FeatureSpec, row: Mapping[str, Any], moves: Sequence[Probe]
) -> list[dict[str, Any]]:
    """Every non-empty set of the probes, each moved half-way or whole, projected onto the
    person's allowed values; fewer moves first."""
    combos = []
    for size in range(1, len(moves) + 1):
        for subset in itertools.combinations(moves, size):
            for halves in itertools.product((False, True), repeat=size):
                values = {
                    m.feature: m.half if half else m.to
                    for m, half in zip(subset, halves, strict=True)
                }
                combos.append(project(spec, row, {**row, **values}))
    return combos
