"""`probes`: the best CF made only of the probes the compact prompt shows (the first-round
fine-tuning teacher).

Checked on the small demo world with its real classifier: every CF flips the model by the margin
it is given, moves only the shown probes' features to their shown values, and CFs come in the
teacher's order: the shortest prefix of whole probes first, then the sparsest others; none is
missed.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from baselines.baseline_world import SmallWorld, assert_well_formed, small_world

from cf_agent.agent.runner import build_verifiers
from cf_agent.finetune.answers import answer_text, emittable_cf
from cf_agent.finetune.examples import (
    Candidate,
    PromptRenderer,
    baseline_candidates,
    build_examples,
)
from cf_agent.finetune.revise import prefix_teacher
from cf_agent.models.baselines import load_baseline
from cf_agent.models.baselines.probes import ProbesProposer
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


def _flipping_combinations(
    world: SmallWorld, row: dict, check: ClassifierCheck
) -> tuple[list[dict], list[dict]]:
    """Enumerated here, independently of probes.py: the passing prefixes of whole probes (the
    first, the first two, ...) and every other passing whole/half combination."""
    moves = probe_moves(world.bundle, world.spec, row, top=PROBES_SHOWN).moves
    prefixes = [
        project(world.spec, row, {**row, **{m.feature: m.to for m in moves[:k]}})
        for k in range(1, len(moves) + 1)
    ]
    others = []
    for size in range(1, len(moves) + 1):
        for subset in itertools.combinations(moves, size):
            for halves in itertools.product((False, True), repeat=size):
                pairs = zip(subset, halves, strict=True)
                values = {m.feature: m.half if h else m.to for m, h in pairs}
                cf = project(world.spec, row, {**row, **values})
                if cf not in prefixes and check.check(row, cf).passed:
                    others.append(cf)
    return [p for p in prefixes if check.check(row, p).passed], others


def test_k_cfs_come_shortest_whole_prefix_first_then_sparsest(world: SmallWorld) -> None:
    check = ClassifierCheck(world.bundle, world.spec)
    sparser_skipped = 0
    for row, proposals in _propose(world, k=3):
        found = [p.values for p in proposals if p.values is not None]
        prefixes, others = _flipping_combinations(world, row, check)
        assert found[: len(prefixes)] == prefixes[:3]
        rest = found[len(prefixes) :]
        sizes = [len(changed_features(world.spec, row, v)) for v in rest]
        assert sizes == sorted(sizes)
        if rest:  # no other combination that flips is sparser than the first one returned
            assert min(len(changed_features(world.spec, row, o)) for o in others) == sizes[0]
        if prefixes and others:
            first = len(changed_features(world.spec, row, prefixes[0]))
            sparser_skipped += any(
                len(changed_features(world.spec, row, o)) < first for o in others
            )
    assert sparser_skipped >= 1, "no person where the prefix rule outranks a sparser CF"


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


def test_finetune_targets_are_the_shortest_verified_prefix_of_whole_probes(
    world: SmallWorld,
) -> None:
    """One rule a small model can learn from the prompt: "the first k probes, whole", with the
    smallest k that passes all three verifiers, even where a sparser combination also passes."""
    spec = world.spec
    verifiers = build_verifiers(spec, world.bundle, world.cohort, world.model_dir, 0.0)
    renderer = PromptRenderer(spec, world.bundle, *load_prompts("compact"))
    queries = world.queries(30)
    probed = baseline_candidates(
        "probes", spec, world.bundle, world.train, queries, 10.0, 0, per_person=12
    )
    result = build_examples(spec, world.cohort, queries, probed, verifiers, renderer, val_share=0)
    by_id = {q.query_id: q for q in queries}
    prefixed = outranked = 0
    for example in result.examples:
        row = by_id[example.person_id].row
        moves = renderer.request(by_id[example.person_id]).probes.moves  # type: ignore[union-attr]
        prefixes = [
            emittable_cf(
                spec, row, project(spec, row, {**row, **{m.feature: m.to for m in moves[:k]}})
            )
            for k in range(1, len(moves) + 1)
        ]
        passing = [p for p in prefixes if verifiers.all_passed(verifiers.check(row, p))]
        if not passing:
            continue
        prefixed += 1
        assert example.answer == answer_text(spec, row, passing[0]), example.person_id
        size = len(changed_features(spec, row, passing[0]))
        outranked += any(
            c.person_id == example.person_id
            and len(changed_features(spec, row, c.values)) < size
            and verifiers.all_passed(verifiers.check(row, emittable_cf(spec, row, c.values)))
            for c in probed
        )
    assert prefixed >= 5 and outranked >= 1, (prefixed, outranked)


def test_revise_targets_continue_the_prefix_rule_from_the_rejected_change(
    world: SmallWorld,
) -> None:
    """After a rejected change, the revise target is the same rule again: the shortest prefix of
    the probes the revise prompt shows from that change, whole, that passes the teacher's margin
    and all three verifiers; where none does, the fallback (the search) answers."""
    spec = world.spec
    verifiers = build_verifiers(spec, world.bundle, world.cohort, world.model_dir, 0.0)
    renderer = PromptRenderer(spec, world.bundle, *load_prompts("compact"))
    strict = ClassifierCheck(world.bundle, spec, margin=0.1)
    asked: list[str] = []

    def fallback(row: dict, previous: dict, exclude: set[str]) -> dict | None:
        asked.append(str(row))
        return None

    teach = prefix_teacher(ProbesProposer(spec, world.bundle, margin=0.1), verifiers, fallback)
    continued = fell_back = 0
    for query in world.queries(30):
        row = query.row
        best = renderer.request(query).probes.moves[0]  # type: ignore[union-attr]
        previous = emittable_cf(spec, row, project(spec, row, {**row, best.feature: best.half}))
        if verifiers.all_passed(verifiers.check(row, previous)):
            continue
        moves = renderer.request(query, previous=previous).probes.moves  # type: ignore[union-attr]
        expected = None
        for k in range(1, len(moves) + 1):
            moved = {**previous, **{m.feature: m.to for m in moves[:k]}}
            values = emittable_cf(spec, row, project(spec, row, moved))
            if strict.check(row, values).passed and verifiers.all_passed(
                verifiers.check(row, values)
            ):
                expected = values
                break
        shown = set(changed_features(spec, row, previous)) | {m.feature for m in moves}
        before = len(asked)
        got = teach(row, previous, set(spec.feature_names) - shown)
        if expected is None:
            assert got is None and len(asked) == before + 1
            fell_back += 1
        else:
            assert got == expected and len(asked) == before, query.query_id
            continued += 1
    assert continued >= 5, (continued, fell_back)
