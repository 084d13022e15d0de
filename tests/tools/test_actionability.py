from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from cf_agent.data.spec import FeatureSpec, spec_from_dict
from cf_agent.errors import DataError
from cf_agent.tools.actionability import ActionabilityCheck, format_number


@pytest.fixture
def spec() -> FeatureSpec:
    return spec_from_dict(
        {
            "label": "risk",
            "classes": {0: "low risk", 1: "high risk"},
            "desired_class": 0,
            "features": [
                {
                    "name": "age",
                    "kind": "int",
                    "unit": "years",
                    "description": "Age",
                    "group": "demographic",
                    "low": 18,
                    "high": 90,
                    "actionability": "immutable",
                },
                {
                    "name": "steps",
                    "kind": "int",
                    "unit": "steps/day",
                    "description": "Daily steps",
                    "group": "wearable",
                    "low": 0,
                    "high": 40000,
                    "actionability": "increase_only",
                    "max_change": 5000,
                },
                {
                    "name": "weight",
                    "kind": "float",
                    "unit": "kg",
                    "description": "Body weight",
                    "group": "clinical",
                    "low": 30,
                    "high": 250,
                    "actionability": "decrease_only",
                    "max_change": 10,
                },
                {
                    "name": "sleep_hours",
                    "kind": "float",
                    "unit": "h",
                    "description": "Sleep per night",
                    "group": "wearable",
                    "low": 0,
                    "high": 16,
                },
                {
                    "name": "smoking",
                    "kind": "categorical",
                    "description": "Smoking status",
                    "group": "clinical",
                    "categories": ["never", "former", "current"],
                },
                {
                    "name": "sex",
                    "kind": "categorical",
                    "description": "Sex",
                    "group": "demographic",
                    "categories": ["f", "m"],
                    "actionability": "immutable",
                },
                {
                    "name": "on_statin",
                    "kind": "bool",
                    "description": "Takes a statin",
                    "group": "clinical",
                },
            ],
        }
    )


@pytest.fixture
def query() -> dict[str, Any]:
    return {
        "age": 57,
        "steps": 8200,
        "weight": 92.5,
        "sleep_hours": 6.5,
        "smoking": "current",
        "sex": "f",
        "on_statin": 0,
    }


def messages(check: ActionabilityCheck, query: dict[str, Any], **changes: Any) -> list[str]:
    verdict = check.check(query, {**query, **changes})
    return [r.message for r in verdict.reasons]


def test_unchanged_and_allowed_changes_pass(spec: FeatureSpec, query: dict[str, Any]) -> None:
    check = ActionabilityCheck(spec)
    for candidate in (
        query,
        {**query, "steps": 13200, "weight": 82.5, "smoking": "never", "on_statin": 1},
        {**query, "steps": np.int64(9000), "weight": np.float64(90.0), "on_statin": True},
    ):
        verdict = check.check(query, candidate)
        assert verdict.passed
        assert verdict.score == 1.0
        assert verdict.reasons == ()
        assert verdict.check == "actionability"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"age": 60}, "age must stay 57 years (it cannot be changed): 60 years proposed"),
        (
            {"age": 57.0000001},
            "age must stay 57 years (it cannot be changed): 57.0000001 years proposed",
        ),
        ({"sex": "m"}, "sex must stay 'f' (it cannot be changed): 'm' proposed"),
        (
            {"steps": 14200},
            "steps may rise at most 5,000 steps/day from 8,200 steps/day: 14,200 steps/day "
            "proposed (allowed 8,200 to 13,200 steps/day)",
        ),
        (
            {"steps": 7000},
            "steps may only rise from 8,200 steps/day: 7,000 steps/day proposed; "
            "keep it >= 8,200 steps/day",
        ),
        ({"weight": 95}, "weight may only fall from 92.5 kg: 95 kg proposed; keep it <= 92.5 kg"),
        (
            {"weight": 80},
            "weight may fall at most 10 kg from 92.5 kg: 80 kg proposed (allowed 82.5 to 92.5 kg)",
        ),
        ({"sleep_hours": 17}, "sleep_hours must be within 0 to 16 h: 17 h proposed"),
        ({"steps": 9000.5}, "steps must be a whole number: 9,000.5 steps/day proposed"),
        (
            {"smoking": "sometimes"},
            "smoking must be one of: never, former, current: 'sometimes' proposed",
        ),
        ({"on_statin": 2}, "on_statin must be 0 or 1: 2 proposed"),
        (
            {"weight": "heavy"},
            "weight must be a finite number (30 to 250 kg): 'heavy' proposed",
        ),
        ({"weight": math.nan}, "weight must be a finite number (30 to 250 kg): nan proposed"),
        ({"weight": math.inf}, "weight must be a finite number (30 to 250 kg): inf proposed"),
        ({"weight": True}, "weight must be a finite number (30 to 250 kg): True proposed"),
        ({"weight": None}, "weight must be a finite number (30 to 250 kg): None proposed"),
    ],
)
def test_each_violation_is_named_with_its_numbers(
    spec: FeatureSpec, query: dict[str, Any], changes: dict[str, Any], expected: str
) -> None:
    check = ActionabilityCheck(spec)
    verdict = check.check(query, {**query, **changes})
    assert not verdict.passed
    assert [r.message for r in verdict.reasons] == [expected]
    assert verdict.reasons[0].feature == next(iter(changes))
    assert verdict.score == pytest.approx(6 / 7)


def test_immutable_float_within_tolerance_passes(spec: FeatureSpec, query: dict[str, Any]) -> None:
    assert messages(ActionabilityCheck(spec), query, age=57 + 1e-12) == []


def test_missing_and_unknown_features(spec: FeatureSpec, query: dict[str, Any]) -> None:
    check = ActionabilityCheck(spec)
    candidate = {k: v for k, v in query.items() if k != "steps"} | {"bmi": 31.0}
    verdict = check.check(query, candidate)
    assert [(r.feature, r.message) for r in verdict.reasons] == [
        ("steps", "steps is missing: give a value (0 to 40000 steps/day)"),
        ("bmi", "bmi is not a feature of this model: remove it"),
    ]
    assert verdict.score == pytest.approx(1 - 2 / 8)


def test_several_violations_give_several_reasons(spec: FeatureSpec, query: dict[str, Any]) -> None:
    check = ActionabilityCheck(spec)
    verdict = check.check(query, {**query, "steps": 2000, "age": 40})
    assert [r.message for r in verdict.reasons] == [
        "age must stay 57 years (it cannot be changed): 40 years proposed",
        "steps may only rise from 8,200 steps/day: 2,000 steps/day proposed; "
        "keep it >= 8,200 steps/day",
        "steps may rise at most 5,000 steps/day from 8,200 steps/day: 2,000 steps/day "
        "proposed (allowed 8,200 to 13,200 steps/day)",
    ]
    assert verdict.details["n_violations"] == 3
    assert verdict.score == pytest.approx(5 / 7)


def test_check_many_matches_check(spec: FeatureSpec, query: dict[str, Any]) -> None:
    check = ActionabilityCheck(spec)
    candidates = [query, {**query, "age": 58}, {**query, "weight": 200}]
    assert check.check_many(query, candidates) == [check.check(query, c) for c in candidates]


def test_invalid_query_is_a_data_error(spec: FeatureSpec, query: dict[str, Any]) -> None:
    with pytest.raises(DataError, match="query row cannot be checked: age is missing"):
        ActionabilityCheck(spec).check({k: v for k, v in query.items() if k != "age"}, query)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (8200, "8,200"),
        (27.35, "27.35"),
        (0.123456, "0.1235"),
        (1234567.0, "1,234,567"),
        (-3.5, "-3.5"),
        (92.50, "92.5"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text
