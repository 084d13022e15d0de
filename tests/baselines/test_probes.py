"""`probes`: the best CF made only of the probes the compact prompt shows (the first-round
fine-tuning teacher).

Checked on the small demo world with its real classifier: every CF flips the model by the margin
it is given, moves only the shown probes' features to their shown values, and CFs come sparsest
first; no combination is missed that would have been sparser.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from baselines.baseline_world import SmallWorld, assert_well_formed, small_world

from cf_agent.agent.runner import build_verifiers
from cf_agent.finetune.examples import (
    Candidate,
    PromptRenderer,
    baseline_candidates,
    build_examples,
)
from cf_agent.models.baselines import load_baseline
from cf_agent.models.baselines.search import SearchProposer
from cf_agent.prompts.render import load_prompts
from cf_agent.proposers import Proposal
from cf_agent.tools.classifier_check import ClassifierCheck
from cf_agent.tools.metrics import changed_features
from cf_agent.tools.projection import project
from cf_agent.tools.sensitivity import PROBES_SHOWN, probe_moves


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    return small_world(tmp_path_factory)


def _propose(world: SmallWorld, k: int = 1, **options: Any) -> list[tuple[dict, list[Proposal]]]:
    proposer = load_baseline("probes", world.spec, world.bundle, world.train, **options)
    out = []
    for query in world.queries(12):
        out.append((query.row, proposer.propose(world.requests(query, k))))
    return out


def _shown_values(world: SmallWorld, row: dict) -> set[tuple[str, float]]:
    moves = probe_moves(world.bundle, world.spec, row, top=PROBES_SHOWN).moves
    return {(m.feature, v) for m in moves for v in (m.half, m.to)}


def test_probes_flip_the_classifier_with_only_the_shown_moves(world: SmallWorld) -> None:
    strict = ClassifierCheck(world.bundle, world.spec, margin=0.1)
    rule_totals = {rule.total for rule in world.spec.rules if hasattr(rule, "parts")}
    found = [(row, ps[0].values) for row, ps in _propose(world, margin=0.1) if ps[0].values]
    assert len(found) >= 6
    for row, values in found:
        assert_well_formed(world, row, values)
        assert strict.check(row, values).passed
        shown = _shown_values(world, row)
        for name in changed_features(world.spec, row, values):
            if name not in rule_totals:
                assert (name, float(values[name])) in shown, (name, values[name])


def test_k_cfs_come_sparsest_first_and_none_sparser_is_missed(world: SmallWorld) -> None:
    check = ClassifierCheck(world.bundle, world.spec)
    for row, proposals in _propose(world, k=3):
        found = [p.values for p in proposals if p.values is not None]
        sizes = [len(changed_features(world.spec, row, v)) for v in found]
        assert sizes == sorted(sizes)
        if not found:
            continue
        moves = probe_moves(world.bundle, world.spec, row, top=PROBES_SHOWN).moves
        for size in range(1, len(moves) + 1):  # no combination that flips is sparser
            for subset in itertools.combinations(moves, size):
                for halves in itertools.product((False, True), repeat=size):
                    pairs = zip(subset, halves, strict=True)
                    values = {m.feature: m.half if h else m.to for m, h in pairs}
                    cf = project(world.spec, row, {**row, **values})
                    if check.check(row, cf).passed:
                        assert len(changed_features(world.spec, row, cf)) >= sizes[0]


def test_top_must_show_a_probe(world: SmallWorld) -> None:
    with pytest.raises(ValueError, match="top must be at least 1"):
        load_baseline("probes", world.spec, world.bundle, world.train, top=0)


def test_finetune_targets_prefer_cfs_of_the_shown_probes_to_sparser_unshown_ones(
    world: SmallWorld,
) -> None:
    """A target moving a feature the prompt does not show cannot be learnt from the prompt: a
    verified CF made of shown probes wins even when it changes more features."""
    verifiers = build_verifiers(world.spec, world.bundle, world.cohort, world.model_dir, 0.0)
    renderer = PromptRenderer(world.spec, world.bundle, *load_prompts("compact"))
    search = SearchProposer(world.spec, world.bundle)
    queries = world.queries(30)
    probed = baseline_candidates(
        "probes", world.spec, world.bundle, world.train, queries, 10.0, 0, per_person=80
    )
    candidates, wanted = [], {}
    for query in queries:
        shown = {m.feature for m in renderer.request(query).probes.moves}  # type: ignore[union-attr]
        unshown = search.search_from(query.row, query.row, exclude=shown)
        if unshown is None or not verifiers.all_passed(verifiers.check(query.row, unshown)):
            continue
        size = len(changed_features(world.spec, query.row, unshown))
        denser = [
            c
            for c in probed
            if c.person_id == query.query_id
            and len(changed_features(world.spec, query.row, c.values)) > size
            and verifiers.all_passed(verifiers.check(query.row, c.values))
        ]
        if denser:
            provenance = {"kind": "test", "method": "unshown"}
            candidates += [
                Candidate(person_id=query.query_id, values=unshown, provenance=provenance)
            ]
            candidates += denser
            wanted[query.query_id] = "probes"
    assert len(wanted) >= 2
    result = build_examples(
        world.spec, world.cohort, queries, candidates, verifiers, renderer, val_share=0.0
    )
    assert {e.person_id: e.provenance["method"] for e in result.examples} == wanted
