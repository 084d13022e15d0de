"""Typed values become feature values by kind; the verifiers judge everything else."""

from __future__ import annotations

import pytest

from cf_agent.data.demo import FEATURES
from cf_agent.data.spec import Feature, FeatureSpec
from cf_agent.errors import CfAgentError
from cf_agent.review.edit import edit_values, parse_value

SPEC = FeatureSpec(label="y", classes={0: "no", 1: "yes"}, desired_class=0, features=FEATURES)
FLAG = Feature(name="smoker", kind="bool", description="Smokes.", group="clinical")


def test_values_by_kind() -> None:
    assert parse_value(SPEC.feature("steps"), " 9,500 ") == 9500
    assert parse_value(SPEC.feature("steps"), "9500.0") == 9500
    assert parse_value(SPEC.feature("bmi"), "27.25") == 27.25
    assert parse_value(SPEC.feature("sex"), "female") == "female"
    assert parse_value(FLAG, "Yes") == 1 and parse_value(FLAG, "0") == 0


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("steps", "9500.5", "whole numbers"),
        ("steps", "lots", "needs a number"),
        ("bmi", "nan", "finite"),
        ("sex", "other", "use one of: female, male"),
    ],
)
def test_bad_values_name_the_fix(name: str, text: str, message: str) -> None:
    with pytest.raises(CfAgentError, match=message):
        parse_value(SPEC.feature(name), text)


def test_edit_values_changes_one_feature() -> None:
    row = {"steps": 4000, "bmi": 30.0}
    assert edit_values(SPEC, row, "steps", "9000") == {"steps": 9000, "bmi": 30.0}
    assert row == {"steps": 4000, "bmi": 30.0}
    with pytest.raises(CfAgentError, match="not a feature"):
        edit_values(SPEC, row, "height", "1")
