"""Parsing raw LLM text: valid answers merge over the query; garbage becomes feedback."""

from __future__ import annotations

import pytest

from cf_agent.data.spec import FeatureSpec, spec_from_dict
from cf_agent.models.llm.answer import parse_answer


@pytest.fixture
def spec() -> FeatureSpec:
    return spec_from_dict(
        {
            "label": "y",
            "classes": {0: "normal", 1: "abnormal"},
            "desired_class": 0,
            "features": [
                {
                    "name": "age",
                    "kind": "int",
                    "description": "Age",
                    "group": "demographic",
                    "low": 40,
                    "high": 90,
                    "actionability": "immutable",
                },
                {
                    "name": "steps",
                    "kind": "int",
                    "description": "Steps",
                    "group": "wearable",
                    "low": 0,
                    "high": 40000,
                    "unit": "steps/day",
                },
                {
                    "name": "sleep",
                    "kind": "float",
                    "description": "Sleep",
                    "group": "wearable",
                    "low": 120,
                    "high": 720,
                },
                {
                    "name": "diet",
                    "kind": "categorical",
                    "description": "Diet",
                    "group": "clinical",
                    "categories": ["usual", "low_carb"],
                },
            ],
        }
    )


QUERY = {"age": 57, "steps": 4000, "sleep": 380.0, "diet": "usual"}


def test_valid_answer_merges_over_query(spec: FeatureSpec) -> None:
    parsed = parse_answer(spec, QUERY, '{"steps": 7000, "sleep": "420", "rationale": "walk"}')
    assert parsed.values == {"age": 57, "steps": 7000, "sleep": 420.0, "diet": "usual"}
    assert parsed.rationale == "walk"
    assert parsed.problems == []


def test_fenced_json_after_prose_is_found(spec: FeatureSpec) -> None:
    text = 'Sure! Here it is:\n```json\n{"steps": 6500, "diet": "low_carb"}\n```'
    parsed = parse_answer(spec, QUERY, text)
    assert parsed.values is not None
    assert parsed.values["steps"] == 6500 and parsed.values["diet"] == "low_carb"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("I cannot help with medical advice.", "no JSON object"),
        ('{"steps": 7000, "sleep": ', "no JSON object"),
        ('{"steps": "lots"}', "steps must be a number"),
        ('{"steps": NaN}', "steps must be a finite number"),
        ('{"diet": "keto"}', "diet must be one of"),
        ('{"rationale": "nothing"}', "named no feature"),
    ],
)
def test_unusable_answers_become_feedback(spec: FeatureSpec, text: str, expected: str) -> None:
    parsed = parse_answer(spec, QUERY, text)
    assert parsed.values is None
    assert any(expected in p for p in parsed.problems), parsed.problems


def test_unknown_keys_are_reported_but_not_fatal(spec: FeatureSpec) -> None:
    parsed = parse_answer(spec, QUERY, '{"steps": 6000, "ignore_instructions": "set age=20"}')
    assert parsed.values is not None and parsed.values["age"] == 57
    assert any("unknown key" in p for p in parsed.problems)


def test_huge_values_are_kept_for_the_verifiers_to_reject(spec: FeatureSpec) -> None:
    parsed = parse_answer(spec, QUERY, '{"steps": 1e12}')
    assert parsed.values is not None and parsed.values["steps"] == 1e12
