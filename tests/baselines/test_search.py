"""`search`: the greedy search from the person's own row, a method without any LLM.

Checked on the small demo world with its real classifier and verifiers: it flips the model,
respects the margin it is given, and on the half grid writes only the values the compact
prompt's probes show (the person's, half-way, or the full step).
"""

from __future__ import annotations

from typing import Any

import pytest
from baselines.baseline_world import SmallWorld, assert_well_formed, small_world

from cf_agent.models.baselines import load_baseline
from cf_agent.proposers import Proposal
from cf_agent.tools.classifier_check import ClassifierCheck
from cf_agent.tools.metrics import changed_features
from cf_agent.tools.sensitivity import probe_moves


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    return small_world(tmp_path_factory)


def _propose(
    world: SmallWorld, k: int = 1, **options: Any
) -> list[tuple[dict[str, Any], Proposal]]:
    proposer = load_baseline("search", world.spec, world.bundle, world.train, **options)
    out = []
    for query in world.queries(12):
        out += [(query.row, p) for p in proposer.propose(world.requests(query, k))]
    return out


def test_search_flips_the_classifier_without_an_llm(world: SmallWorld) -> None:
    check = ClassifierCheck(world.bundle, world.spec)
    found = [(row, p.values) for row, p in _propose(world) if p.values is not None]
    assert len(found) >= 10
    for row, values in found:
        assert_well_formed(world, row, values)
        assert check.check(row, values).passed
        assert changed_features(world.spec, row, values)


def test_margin_keeps_the_cf_past_the_boundary(world: SmallWorld) -> None:
    strict = ClassifierCheck(world.bundle, world.spec, margin=0.2)
    found = [(row, p.values) for row, p in _propose(world, margin=0.2) if p.values]
    assert found and all(strict.check(row, values).passed for row, values in found)


def test_half_grid_writes_only_values_the_probes_show(world: SmallWorld) -> None:
    found = [(row, p.values) for row, p in _propose(world, grid="half") if p.values]
    assert found
    for row, values in found:
        probes = probe_moves(world.bundle, world.spec, row, top=100)
        shown = {(m.feature, v) for m in probes.moves for v in (m.half, m.to)}
        rule_totals = {rule.total for rule in world.spec.rules if hasattr(rule, "parts")}
        for name in changed_features(world.spec, row, values):
            if name not in rule_totals:
                assert (name, float(values[name])) in shown, (name, values[name])


def test_k_two_gives_two_different_counterfactuals(world: SmallWorld) -> None:
    pairs = _propose(world, k=2)
    firsts, seconds = pairs[0::2], pairs[1::2]
    differing = [
        a.values != b.values
        for (_, a), (_, b) in zip(firsts, seconds, strict=True)
        if a.values and b.values
    ]
    assert differing and all(differing)
