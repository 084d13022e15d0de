from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from cf_agent.data.spec import FeatureSpec, spec_from_dict
from cf_agent.errors import DataError
from cf_agent.tools.actionability import ActionabilityCheck, format_number
from cf_agent.tools.classifier_check import ClassifierCheck
from cf_agent.tools.plausibility import PlausibilityCheck
from cf_agent.tools.verifiers import Verifiers

SMOKING = ["never", "former", "current"]
NUMERIC = [
    ("age", "int", "years", 18, 90, "immutable"),
    ("sleep_deep_min", "float", "min", 0, 300, "free"),
    ("sleep_light_min", "float", "min", 0, 600, "free"),
    ("sleep_total_min", "float", "min", 0, 900, "free"),
    ("hr_resting", "float", "bpm", 30, 120, "free"),
    ("hr_mean", "float", "bpm", 35, 180, "free"),
]


@pytest.fixture(scope="module")
def spec() -> FeatureSpec:
    features: list[dict[str, Any]] = [
        {
            "name": name,
            "kind": kind,
            "unit": unit,
            "description": name,
            "group": "wearable",
            "low": low,
            "high": high,
            "actionability": action,
        }
        for name, kind, unit, low, high, action in NUMERIC
    ]
    features.append(
        {
            "name": "smoking",
            "kind": "categorical",
            "description": "Smoking status",
            "group": "clinical",
            "categories": SMOKING,
        }
    )
    rules = [
        {"kind": "sum", "parts": ["sleep_deep_min", "sleep_light_min"], "total": "sleep_total_min"},
        {"kind": "less_equal", "left": "hr_resting", "right": "hr_mean"},
    ]
    return spec_from_dict(
        {
            "label": "risk",
            "classes": {0: "low risk", 1: "high risk"},
            "desired_class": 0,
            "features": features,
            "rules": rules,
        }
    )


def cohort(n: int, seed: int) -> pd.DataFrame:
    """Rows that obey both rules: sleep stages sum to the total, resting <= mean heart rate."""
    rng = np.random.default_rng(seed)
    deep = rng.normal(75, 15, n).clip(20, 150).round(1)
    light = rng.normal(300, 40, n).clip(150, 450).round(1)
    resting = rng.normal(62, 7, n).round(1)
    frame = pd.DataFrame(
        {
            "age": rng.integers(25, 76, n),
            "sleep_deep_min": deep,
            "sleep_light_min": light,
            "sleep_total_min": (deep + light).round(1),
            "hr_resting": resting,
            "hr_mean": (resting + np.abs(rng.normal(15, 4, n))).round(1),
            "smoking": rng.choice(SMOKING, n, p=[0.5, 0.3, 0.2]),
        }
    )
    logit = (frame["hr_resting"] - 62) / 7 - (frame["sleep_deep_min"] - 75) / 15
    frame["risk"] = (logit + 0.3 * rng.logistic(size=n) > 0).astype(int)
    return frame


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return cohort(600, seed=0)


@pytest.fixture(scope="module")
def lof(spec: FeatureSpec, train: pd.DataFrame) -> PlausibilityCheck:
    return PlausibilityCheck(spec).fit(train)


TYPICAL = {
    "age": 50,
    "sleep_deep_min": 75.0,
    "sleep_light_min": 300.0,
    "sleep_total_min": 375.0,
    "hr_resting": 60.0,
    "hr_mean": 75.0,
    "smoking": "never",
}


@pytest.mark.parametrize("method", ["lof", "iforest"])
def test_real_rows_pass_at_about_the_expected_rate(
    spec: FeatureSpec, train: pd.DataFrame, method: Any
) -> None:
    check = PlausibilityCheck(spec, method=method, threshold_quantile=0.01).fit(train)
    fresh = cohort(400, seed=1).drop(columns="risk").to_dict("records")
    verdicts = check.check_many(TYPICAL, fresh)
    assert 0.96 <= np.mean([v.passed for v in verdicts]) <= 1.0
    assert all(0.0 <= v.score <= 1.0 for v in verdicts)
    assert check.check(TYPICAL, TYPICAL).passed


def test_scores_are_calibrated_on_the_training_rows(spec: FeatureSpec, train: pd.DataFrame) -> None:
    check = PlausibilityCheck(spec, method="iforest", threshold_quantile=0.05, seed=3).fit(train)
    scores = check.calibrated_scores(train)
    assert np.mean(scores >= 0.05) == pytest.approx(0.95)
    assert scores.min() == 0.0
    assert scores.max() == pytest.approx(599 / 600)


def test_absurd_row_fails_naming_the_features_out_of_line(
    spec: FeatureSpec, train: pd.DataFrame, lof: PlausibilityCheck
) -> None:
    absurd = {
        **TYPICAL,
        "sleep_deep_min": 290.0,
        "sleep_light_min": 10.0,
        "sleep_total_min": 300.0,
        "hr_resting": 110.0,
        "hr_mean": 115.0,
    }
    verdict = lof.check(TYPICAL, absurd)
    assert not verdict.passed
    assert verdict.score < 0.01
    assert verdict.reasons[0].message == (
        "this combination of values is atypical for the cohort: only 0.0% of training rows are "
        "less typical (needs at least 1.0%); bring these features closer to typical values"
    )
    named = {r.feature: r.message for r in verdict.reasons[1:]}
    assert 1 <= len(named) <= 3
    assert "sleep_deep_min" in named
    low, high = np.percentile(train["sleep_deep_min"], [5, 95])
    message = named["sleep_deep_min"]
    assert message.startswith(
        "sleep_deep_min 290 min is unusual here: the 20 most similar training rows have "
    )
    assert message.endswith(
        f"min (cohort typical {format_number(low, 3)} to {format_number(high, 3)} min)"
    )


def test_rare_category_is_named(spec: FeatureSpec, train: pd.DataFrame) -> None:
    rng = np.random.default_rng(5)
    no_never = train.assign(smoking=np.where(rng.random(len(train)) < 0.1, "former", "current"))
    check = PlausibilityCheck(spec, n_neighbors=10).fit(no_never)
    assert check.check(TYPICAL, {**TYPICAL, "smoking": "current"}).passed
    verdict = check.check(TYPICAL, TYPICAL)
    assert not verdict.passed
    assert [(r.feature, r.message) for r in verdict.reasons[1:]] == [
        (
            "smoking",
            "smoking 'never' is rare among the 10 most similar training rows "
            "(0% have it; most have 'current')",
        )
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"sleep_total_min": 425.0},
            "sleep_deep_min + sleep_light_min must equal sleep_total_min (within 1): "
            "375 vs 425 min",
        ),
        ({"hr_resting": 70.0, "hr_mean": 68.0}, "hr_resting must not exceed hr_mean: 70 > 68 bpm"),
    ],
)
def test_rule_violation_fails_with_the_rule_message(
    lof: PlausibilityCheck, changes: dict[str, Any], message: str
) -> None:
    verdict = lof.check(TYPICAL, {**TYPICAL, **changes})
    assert not verdict.passed
    assert verdict.reasons[0].message == message
    assert verdict.details["n_rule_violations"] == 1


def test_unusable_row_fails_without_crashing(lof: PlausibilityCheck) -> None:
    candidate = {k: v for k, v in TYPICAL.items() if k != "hr_mean"}
    verdicts = lof.check_many(TYPICAL, [candidate, TYPICAL])
    assert [v.passed for v in verdicts] == [False, True]
    assert [(r.feature, r.message) for r in verdicts[0].reasons[1:]] == [
        ("hr_mean", "hr_mean is missing: give a value (35 to 180 bpm)")
    ]


def test_unfitted_use_is_a_clear_error(spec: FeatureSpec) -> None:
    with pytest.raises(NotFittedError, match=r"not fitted: call fit\(train_frame\)"):
        PlausibilityCheck(spec).check(TYPICAL, TYPICAL)


@pytest.mark.parametrize(
    ("broken", "match"),
    [
        (lambda f: f.drop(columns="hr_mean"), r"lacks feature columns \['hr_mean'\]"),
        (lambda f: f.assign(hr_mean=f["hr_mean"].where(f.index != 3)), "1 missing values"),
        (lambda f: f.assign(smoking="vape"), r"values \['vape'\] outside"),
        (lambda f: f.assign(hr_mean="fast"), "hr_mean is not numeric"),
    ],
)
def test_fit_rejects_bad_training_frames(
    spec: FeatureSpec, train: pd.DataFrame, broken: Any, match: str
) -> None:
    with pytest.raises(DataError, match=match):
        PlausibilityCheck(spec).fit(broken(train))


def test_verifiers_run_all_three_checks(
    spec: FeatureSpec, train: pd.DataFrame, lof: PlausibilityCheck
) -> None:
    features = spec.feature_names
    numeric = [name for name in features if name != "smoking"]
    encode = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(categories=[SMOKING]), ["smoking"]),
        ]
    )
    model = Pipeline([("encode", encode), ("clf", LogisticRegression())])
    model.fit(train[features], train["risk"])
    verifiers = Verifiers(ClassifierCheck(model, spec), ActionabilityCheck(spec), lof)

    query = {**TYPICAL, "sleep_deep_min": 60.0, "sleep_total_min": 360.0, "hr_resting": 70.0}
    good = {**TYPICAL, "sleep_deep_min": 90.0, "sleep_total_min": 390.0, "hr_resting": 56.0}
    older = {**good, "age": 60}
    assert verifiers.plausibility is lof
    verdicts = verifiers.check(query, good)
    assert [v.check for v in verdicts] == ["classifier", "actionability", "plausibility"]
    assert verifiers.all_passed(verdicts)
    assert not verifiers.all_passed(verifiers.check(query, query))
    older_verdicts = verifiers.check(query, older)
    assert [v.passed for v in older_verdicts] == [True, False, True]
    assert not verifiers.all_passed(older_verdicts)
    assert not verifiers.all_passed([])
    assert verifiers.check_many(query, [good, older]) == [verdicts, older_verdicts]
