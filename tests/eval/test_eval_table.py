"""The method table's arithmetic on three hand-made people (k = 2), checked against hand sums.

t-quantile for 3 values (2 degrees of freedom): t_{0.975, 2} = 4.302652729911275.
"""

from __future__ import annotations

import math

import pytest

from cf_agent.eval.judge import QueryResult, SlotResult
from cf_agent.eval.table import estimate, summarize_method

T2 = 4.302652729911275


def slot(index: int, **fields: object) -> SlotResult:
    return SlotResult.model_validate({"cf_index": index, "source": "m", **fields})


def returned(index: int, **fields: object) -> SlotResult:
    return slot(index, returned=True, values={"x": index}, **fields)


PEOPLE = [
    QueryResult(
        method="m",
        query_id="A",
        query={"x": 0},
        seconds=4.0,
        llm_calls=3,
        diversity=5.0,
        slots=[
            returned(
                0,
                valid=True,
                actionable=True,
                plausible=True,
                verified=True,
                n_changed=1,
                l1_mad=2.0,
                ynn=1.0,
                redundancy=0,
                immutable_violations=0,
                actionability_violations=0,
            ),
            returned(
                1,
                valid=True,
                actionable=False,
                plausible=False,
                verified=False,
                n_changed=3,
                l1_mad=4.0,
                ynn=0.6,
                redundancy=1,
                immutable_violations=1,
                actionability_violations=0,
                source="refine",
            ),
        ],
    ),
    QueryResult(
        method="m",
        query_id="B",
        query={"x": 0},
        seconds=1.0,
        llm_calls=1,
        slots=[
            returned(
                0,
                valid=False,
                actionable=False,
                plausible=True,
                verified=False,
                n_changed=2,
                l1_mad=1.0,
                ynn=0.2,
                immutable_violations=0,
                actionability_violations=2,
            ),
            slot(1, returned=False, error="none"),
        ],
    ),
    QueryResult(
        method="m",
        query_id="C",
        query={"x": 0},
        seconds=3.0,
        llm_calls=2,
        slots=[slot(0, returned=False, error="none"), slot(1, returned=False, error="none")],
    ),
]


def test_counts_and_rates_over_their_own_units() -> None:
    s = summarize_method("m", PEOPLE, is_llm=True)
    assert (s.queries, s.requested, s.returned) == (3, 6, 3)
    assert s.success.mean == pytest.approx(1 / 3)  # only A has a CF passing all checks
    assert s.valid_success.mean == pytest.approx(1 / 3)  # B's only CF does not flip the model
    assert s.validity.mean == pytest.approx(2 / 6)  # per requested slot: A0, A1
    assert s.plausibility.mean == pytest.approx(2 / 3)  # per returned CF: A0, B0
    assert s.actionable.mean == pytest.approx(1 / 3)
    assert s.immutable_violations.mean == pytest.approx(1 / 3)
    assert s.actionability_violations.mean == pytest.approx(2 / 3)
    assert s.sparsity.mean == pytest.approx(2.0)
    assert s.l1_mad.mean == pytest.approx(7 / 3)
    assert s.ynn.mean == pytest.approx(0.6)
    assert s.redundancy.mean == pytest.approx(0.5) and s.redundancy.n == 2  # valid CFs only
    assert s.refined.mean == pytest.approx(1 / 3)
    assert s.median_seconds_per_cf == pytest.approx(1.5)  # A: 4 s / 2 CFs, B: 1 s / 1; C none
    assert s.llm_calls.mean == pytest.approx(2.0)


def test_intervals_are_t_intervals_cut_to_what_the_metric_can_be() -> None:
    s = summarize_method("m", PEOPLE, is_llm=False)
    half = T2 * 1.0 / math.sqrt(3)  # sparsity 1, 3, 2: sd 1
    assert (s.sparsity.low, s.sparsity.high) == pytest.approx((0.0, 2.0 + half))
    success_half = T2 * math.sqrt(1 / 3) / math.sqrt(3)  # 1, 0, 0: sd sqrt(1/3)
    assert s.success.low == 0.0 and s.success.high == pytest.approx(1.0)
    assert 1 / 3 + success_half > 1.0  # the cut was needed
    assert s.diversity.mean == 5.0 and s.diversity.low is None and s.diversity.n == 1


def test_estimate_skips_unknown_values_and_reports_nothing_for_none() -> None:
    assert estimate([None, float("nan")]).mean is None
    assert estimate([2.0, None, 4.0]).mean == pytest.approx(3.0)
    assert estimate([2.0, None, 4.0]).n == 2
