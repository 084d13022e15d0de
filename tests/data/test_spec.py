"""The feature spec: valid specs round-trip; each bad one names the field and the fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from cf_agent.data.spec import FeatureSpec, load_spec, save_spec, spec_from_dict
from cf_agent.errors import SpecError

BASE: dict[str, Any] = {
    "name": "toy",
    "label": "y",
    "classes": {"0": "normal", "1": "abnormal"},
    "desired_class": 0,
    "features": [
        {
            "name": "age",
            "kind": "int",
            "description": "Age",
            "group": "demographic",
            "low": 40,
            "high": 90,
            "unit": "years",
            "actionability": "immutable",
        },
        {
            "name": "steps",
            "kind": "int",
            "description": "Steps",
            "group": "wearable",
            "low": 0,
            "high": 40000,
            "max_change": 5000,
        },
        {
            "name": "deep",
            "kind": "float",
            "description": "Deep",
            "group": "wearable",
            "low": 0,
            "high": 300,
        },
        {
            "name": "light",
            "kind": "float",
            "description": "Light",
            "group": "wearable",
            "low": 0,
            "high": 600,
        },
        {
            "name": "total",
            "kind": "float",
            "description": "Total",
            "group": "wearable",
            "low": 0,
            "high": 900,
        },
        {
            "name": "sex",
            "kind": "categorical",
            "description": "Sex",
            "group": "demographic",
            "categories": ["female", "male"],
            "actionability": "immutable",
        },
        {
            "name": "smoker",
            "kind": "bool",
            "description": "Smokes",
            "group": "clinical",
            "actionability": "decrease_only",
        },
    ],
    "rules": [
        {"kind": "sum", "parts": ["deep", "light"], "total": "total", "tolerance": 1},
        {"kind": "less_equal", "left": "deep", "right": "light"},
    ],
}


def with_change(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


DELETE = object()


def test_valid_spec_round_trips_through_toml(tmp_path: Path) -> None:
    spec = spec_from_dict(BASE)
    assert spec.classes == {0: "normal", 1: "abnormal"}
    save_spec(spec, tmp_path / "spec.toml")
    again = load_spec(tmp_path / "spec.toml")
    assert again == spec and again.spec_hash() == spec.spec_hash()


def test_hash_changes_with_content() -> None:
    other = spec_from_dict(with_change(["features", 1, "max_change"], 4000))
    assert other.spec_hash() != spec_from_dict(BASE).spec_hash()


def test_rules_report_violations() -> None:
    spec = spec_from_dict(BASE)
    sum_rule, order_rule = spec.rules
    row = {"deep": 100, "light": 300, "total": 400}
    assert sum_rule.violation(row) is None and order_rule.violation(row) is None
    assert "deep + light must equal total" in str(sum_rule.violation({**row, "total": 450}))
    assert "deep must not exceed light" in str(order_rule.violation({**row, "deep": 350}))


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["features", 1, "low"], 50000, "'steps': low (50000) must be below high (40000)"),
        (["features", 1, "high"], DELETE, "needs both low and high"),
        (["features", 1, "kind"], "decimal", "features[1].kind"),
        (["features", 1, "actionability"], "sometimes", "features[1].actionability"),
        (["features", 1, "group"], "lifestyle", "features[1].group"),
        (["features", 1, "max_change"], -5, "features[1].max_change"),
        (["features", 1, "name"], "steps per day", "features[1].name"),
        (["features", 1, "name"], "age", "duplicate feature names: ['age']"),
        (["features", 5, "categories"], ["female"], "at least two distinct categories"),
        (["features", 5, "actionability"], "increase_only", "categorical feature cannot be"),
        (["features", 6, "low"], 0, "low/high are only for float and int"),
        (["features", 1, "colour"], "red", "features[1].colour: Extra inputs are not permitted"),
        (["desired_class"], 2, "desired_class 2 is not one of classes [0, 1]"),
        (["classes"], {"0": "only"}, "classes needs at least two entries"),
        (["label"], "steps", "label 'steps' is also listed as a feature"),
        (["rules", 0, "total"], "sleep", "rules[0] names unknown feature 'sleep'"),
        (["rules", 1, "left"], "sex", "rules[1] uses non-numeric feature 'sex'"),
        (["rules", 1, "kind"], "greater", "rules[1]"),
        (["schema_version"], 9, "schema_version 9 is not supported"),
        (["features"], [], "features"),
    ],
)
def test_bad_spec_names_the_field(path: list[Any], value: Any, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        spec_from_dict(with_change(path, value), "toy.toml")
    message = str(info.value)
    assert "invalid feature spec toy.toml" in message
    assert expected in message, message
    assert "fix:" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "spec file not found"),
        (b"label = [", "not valid TOML"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
    ],
)
def test_unreadable_spec_files(tmp_path: Path, content: bytes | None, expected: str) -> None:
    path = tmp_path / "spec.toml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SpecError, match=expected):
        load_spec(path)


def test_spec_is_immutable() -> None:
    spec: FeatureSpec = spec_from_dict(BASE)
    with pytest.raises(Exception, match="frozen"):
        spec.label = "other"  # type: ignore[misc]


def test_a_spec_names_its_groups_and_what_is_modifiable() -> None:
    data = with_change(["features", 1, "group"], "labs")
    with pytest.raises(SpecError, match="has group 'labs', not one of"):
        spec_from_dict(data)
    groups = ["demographic", "clinical", "labs", "wearable"]
    spec = spec_from_dict({**data, "groups": groups, "modifiable_groups": ["labs"]})
    assert [f.name for f in spec.features if spec.is_modifiable(f)] == [spec.features[1].name]
    with pytest.raises(SpecError, match="modifiable_groups names"):
        spec_from_dict({**BASE, "modifiable_groups": ["behaviour"]})


def test_default_groups_keep_older_specs_hashes() -> None:
    spec = spec_from_dict(BASE)
    explicit = spec_from_dict(
        {**BASE, "groups": list(spec.groups), "modifiable_groups": list(spec.modifiable_groups)}
    )
    assert explicit.spec_hash() == spec.spec_hash()
    widened = spec_from_dict({**BASE, "modifiable_groups": ["wearable", "clinical"]})
    assert widened.spec_hash() != spec.spec_hash()


def test_reachable_is_whole_for_int_and_bool_features() -> None:
    spec = spec_from_dict(BASE)
    steps = spec.feature("steps").model_copy(update={"kind": "int", "max_change": 2.5})
    assert steps.reachable(100.0) == (98.0, 102.0)
    flag = spec.feature("steps").model_copy(
        update={"kind": "bool", "low": None, "high": None, "max_change": None}
    )
    assert flag.reachable(0.0) == (0.0, 1.0)
