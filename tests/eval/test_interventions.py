"""Intervention quality on two hand-made CFs for a demo person: counts, medians, shares, entropy."""

from __future__ import annotations

import math
from typing import Any

import pytest

from cf_agent.data.demo import demo_spec, generate_demo_cohort
from cf_agent.eval.interventions import describe_delta, summarize_interventions
from cf_agent.eval.judge import QueryResult, SlotResult

SPEC = demo_spec("glucose")


def person() -> dict[str, Any]:
    row = generate_demo_cohort(50, seed=0).iloc[0]
    return {
        name: row[name].item() if hasattr(row[name], "item") else row[name]
        for name in SPEC.feature_names
    }


def result(query: dict[str, Any], *cfs: dict[str, Any] | None) -> QueryResult:
    slots = [
        SlotResult(cf_index=i, returned=cf is not None, values=cf, source="m", n_changed=1)
        if cf is not None
        else SlotResult(cf_index=i, returned=False, error="none", source="m")
        for i, cf in enumerate(cfs)
    ]
    return QueryResult(method="m", query_id="q", query=query, seconds=1.0, slots=slots)


def test_changes_are_counted_with_median_deltas_and_modifiable_shares() -> None:
    query = person()
    other_sex = "male" if query["sex"] == "female" else "female"
    walk_and_sleep = {
        **query,
        "steps": query["steps"] + 3000,
        "sleep_total_min": query["sleep_total_min"] + 30,
    }
    walk_older = {
        **query,
        "steps": query["steps"] + 1000,
        "age": query["age"] + 1,
        "sex": other_sex,
    }
    summary = summarize_interventions(
        SPEC, "m", [result(query, walk_and_sleep, None), result(query, walk_older)]
    )
    assert (summary.cfs, summary.changes, summary.distinct_features) == (2, 5, 4)
    steps = summary.features[0]
    assert (steps.feature, steps.count, steps.share) == ("steps", 2, 1.0)
    assert steps.median_delta == 2000 and steps.typical == "+2,000 steps/day"
    by_name = {f.feature: f for f in summary.features}
    assert by_name["sleep_total_min"].typical == "+30 min/night"
    assert by_name["sex"].typical == f"{query['sex']} → {other_sex}"
    assert by_name["sex"].median_delta is None and by_name["age"].share == 0.5
    assert summary.modifiable_share == pytest.approx(3 / 5)  # steps twice, sleep once
    assert summary.immutable_share == pytest.approx(2 / 5)  # age, sex
    expected = -(0.4 * math.log(0.4) + 3 * 0.2 * math.log(0.2)) / math.log(len(SPEC.features))
    assert summary.change_entropy == pytest.approx(expected)


def test_a_method_without_cfs_has_no_shares() -> None:
    summary = summarize_interventions(SPEC, "m", [result(person(), None)])
    assert (summary.cfs, summary.changes, summary.features) == (0, 0, [])
    assert summary.modifiable_share is None and summary.change_entropy is None


def test_modifiable_means_wearable_and_not_immutable_by_default() -> None:
    modifiable = {f.name for f in SPEC.features if SPEC.is_modifiable(f)}
    assert {"steps", "sleep_total_min", "stress_score"} <= modifiable
    assert not {"age", "bmi", "hba1c", "mean_glucose"} & modifiable


def test_another_cohort_names_what_is_modifiable() -> None:
    # A cohort where glucose, BMI and blood pressure are the levers: changes to them count.
    spec = SPEC.model_copy(update={"modifiable_groups": ("clinical", "cgm")})
    cf = {**person(), "bmi": person()["bmi"] - 1.0, "mean_glucose": person()["mean_glucose"] - 5}
    summary = summarize_interventions(spec, "m", [result(person(), cf)])
    assert summary.modifiable_share == 1.0
    assert summarize_interventions(SPEC, "m", [result(person(), cf)]).modifiable_share == 0.0


def test_deltas_read_as_people_write_them() -> None:
    assert describe_delta(SPEC.feature("steps"), -2600.0) == "-2,600 steps/day"
    assert describe_delta(SPEC.feature("hba1c"), -0.5) == "-0.5 %"
