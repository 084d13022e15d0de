"""DiCE behind the Proposer: full rows, immutables and permitted ranges passed, honest failures."""

from __future__ import annotations

import pytest
from baselines.baseline_world import SmallWorld, assert_well_formed, small_world

from cf_agent.models.baselines import BASELINE_METHODS, load_baseline
from cf_agent.models.baselines.dice import DiceProposer
from cf_agent.proposers import Proposal
from cf_agent.tools.classifier_check import rows_to_frame


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    return small_world(tmp_path_factory)


def test_dice_random_returns_full_valid_rows_within_the_permitted_ranges(
    small: SmallWorld,
) -> None:
    proposer = load_baseline("dice-random", small.spec, small.bundle, small.train)
    assert proposer.name == "dice-random" and proposer.is_llm is False
    query = small.queries(1)[0]
    proposals = proposer.propose(small.requests(query, 2))
    assert len(proposals) == 2
    returned = [p.values for p in proposals if p.values is not None]
    assert returned, [p.error for p in proposals]
    for values in returned:
        assert_well_formed(small, query.row, values)
        for feature in small.spec.features:
            if feature.is_numeric and feature.actionability != "immutable":
                low, high = feature.reachable(query.row[feature.name])
                assert low <= values[feature.name] <= high, feature.name
    predicted = small.bundle.predict(rows_to_frame(small.spec, returned))
    assert set(predicted) == {small.spec.desired_class}
    assert all(p.source == "dice-random" and p.latency_s > 0 for p in proposals)


def test_permitted_range_is_the_spec_interval_from_the_persons_value(small: SmallWorld) -> None:
    proposer = DiceProposer(small.spec, small.bundle, small.train, method="random")
    row = {**small.queries(1)[0].row, "bmi": 30.0, "steps": 1000, "hba1c": 4.5}
    ranges = proposer.permitted_range(row)
    assert "age" not in ranges and "sex" not in ranges  # immutables are not varied at all
    assert ranges["bmi"] == [27.0, 30.0]  # decrease_only, max_change 3
    assert ranges["steps"] == [0.0, 6000.0]  # free, max_change 5,000, range from 0
    assert ranges["hba1c"] == [4.0, 4.5]  # decrease_only, the range's low of 4 binds


def test_requests_for_two_people_get_one_search_each_in_request_order(small: SmallWorld) -> None:
    proposer = load_baseline("dice-random", small.spec, small.bundle, small.train)
    first, second = small.queries(2)
    requests = [*small.requests(first, 1), *small.requests(second, 1)]
    proposals = proposer.propose(requests)
    assert len(proposals) == 2
    for query, proposal in zip((first, second), proposals, strict=True):
        if proposal.values is not None:
            assert_well_formed(small, query.row, proposal.values)
        else:
            assert proposal.error


def test_dice_genetic_returns_rows_that_keep_the_immutables_or_says_why_not(
    small: SmallWorld,
) -> None:
    """The genetic search is seeded per person; on this model it finds a CF for the first."""
    proposer = load_baseline("dice-genetic", small.spec, small.bundle, small.train, seed=1)
    found = 0
    for query in small.queries(2):
        (proposal,) = proposer.propose(small.requests(query, 1))
        if proposal.values is None:
            # "... within its 30 s limit" when a loaded machine runs the search past its limit
            assert (proposal.error or "").startswith("dice-genetic found no counterfactual")
        else:
            assert_well_formed(small, query.row, proposal.values)
            found += 1
    assert found >= 1


def test_kdtree_failures_are_reported_not_raised(small: SmallWorld) -> None:
    proposer = load_baseline("dice-kdtree", small.spec, small.bundle, small.train)
    for query in small.queries(3):
        proposals = proposer.propose(small.requests(query, 2))
        assert len(proposals) == 2
        for proposal in proposals:
            if proposal.values is None:
                assert proposal.error and "dice-kdtree" in proposal.error
            else:
                assert_well_formed(small, query.row, proposal.values)


def test_a_search_past_its_time_limit_stops_with_an_error(small: SmallWorld) -> None:
    proposer = load_baseline(
        "dice-random", small.spec, small.bundle, small.train, time_limit_s=1e-6
    )
    proposals = proposer.propose(small.requests(small.queries(1)[0], 2))
    assert [p.values for p in proposals] == [None, None]
    assert all(p.error and "limit" in p.error for p in proposals)


def test_unknown_methods_and_options_are_refused(small: SmallWorld) -> None:
    assert "dice-random" in BASELINE_METHODS
    with pytest.raises(Exception, match="unknown baseline method 'dice-gradient'"):
        load_baseline("dice-gradient", small.spec, small.bundle, small.train)
    with pytest.raises(TypeError, match="limit_seconds"):
        load_baseline("dice-random", small.spec, small.bundle, small.train, limit_seconds=2)


def test_proposals_are_plain_json_values(small: SmallWorld) -> None:
    proposer = load_baseline("dice-random", small.spec, small.bundle, small.train)
    proposals = proposer.propose(small.requests(small.queries(1)[0], 1))
    restored = Proposal.model_validate_json(proposals[0].model_dump_json())
    assert restored.values == proposals[0].values
