from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from cf_agent.data.spec import FeatureSpec, spec_from_dict
from cf_agent.errors import DataError, ModelFileError
from cf_agent.tools.classifier_check import ClassifierCheck, rows_to_frame

SMOKING = ["never", "former", "current"]


def make_spec(classes: dict[int, str], desired_class: int) -> FeatureSpec:
    numeric = [
        ("age", "int", "years", 18, 90, "immutable"),
        ("steps", "int", "steps/day", 0, 40000, "increase_only"),
        ("weight", "float", "kg", 30, 250, "decrease_only"),
    ]
    features: list[dict[str, Any]] = [
        {
            "name": name,
            "kind": kind,
            "unit": unit,
            "description": name,
            "group": "clinical",
            "low": low,
            "high": high,
            "actionability": action,
        }
        for name, kind, unit, low, high, action in numeric
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
    return spec_from_dict(
        {"label": "risk", "classes": classes, "desired_class": desired_class, "features": features}
    )


@pytest.fixture(scope="module")
def spec() -> FeatureSpec:
    return make_spec({0: "low risk", 1: "high risk"}, 0)


def synthetic_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(25, 80, n),
            "steps": rng.integers(1000, 20000, n),
            "weight": rng.normal(85, 15, n).round(1),
            "smoking": rng.choice(SMOKING, n),
        }
    )
    logit = (
        0.06 * (frame["age"] - 50)
        - 0.0004 * (frame["steps"] - 9000)
        + 0.08 * (frame["weight"] - 85)
        + 1.5 * (frame["smoking"] == "current")
    )
    frame["risk"] = (logit + rng.logistic(size=n) > 0).astype(int)
    return frame


def fit_model(frame: pd.DataFrame, label: str) -> Pipeline:
    encode = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "steps", "weight"]),
            ("cat", OneHotEncoder(categories=[SMOKING]), ["smoking"]),
        ]
    )
    model = Pipeline([("encode", encode), ("clf", LogisticRegression())])
    return model.fit(frame[["age", "steps", "weight", "smoking"]], frame[label])


@pytest.fixture(scope="module")
def model() -> Pipeline:
    return fit_model(synthetic_frame(500, seed=0), "risk")


@pytest.fixture
def query() -> dict[str, Any]:
    return {"age": 62, "steps": 4000, "weight": 104.0, "smoking": "current"}


def p_low_risk(model: Pipeline, spec: FeatureSpec, row: dict[str, Any]) -> float:
    return float(model.predict_proba(rows_to_frame(spec, [row]))[0, 0])


def test_flipped_candidate_passes(spec: FeatureSpec, model: Pipeline, query: dict) -> None:
    candidate = {**query, "steps": 16000, "weight": 80.0, "smoking": "never"}
    verdict = ClassifierCheck(model, spec).check(query, candidate)
    assert verdict.passed
    assert verdict.check == "classifier"
    assert verdict.reasons == ()
    assert verdict.score == pytest.approx(p_low_risk(model, spec, candidate))
    assert verdict.details["predicted_class"] == "0"
    assert verdict.details["predicted_meaning"] == "low risk"
    assert verdict.details["p_desired_query"] == pytest.approx(p_low_risk(model, spec, query))


def test_too_small_change_says_how_far_off(spec: FeatureSpec, model: Pipeline, query: dict) -> None:
    candidate = {**query, "steps": 9000}
    p_now, p_before = p_low_risk(model, spec, candidate), p_low_risk(model, spec, query)
    assert p_before < p_now < 0.5
    verdict = ClassifierCheck(model, spec).check(query, candidate)
    assert not verdict.passed
    assert verdict.score == pytest.approx(p_now)
    assert verdict.details["predicted_meaning"] == "high risk"
    assert [r.message for r in verdict.reasons] == [
        f"the classifier still predicts 'high risk' (p={p_now:.2f} for 'low risk', needs > 0.50); "
        f"the changes raised it from {p_before:.2f}: move the changed features further the same "
        "way, or change more features"
    ]


def test_change_in_the_wrong_direction_is_called_out(
    spec: FeatureSpec, model: Pipeline, query: dict
) -> None:
    candidate = {**query, "weight": 120.0}
    p_before = p_low_risk(model, spec, query)
    (reason,) = ClassifierCheck(model, spec).check(query, candidate).reasons
    assert reason.message.endswith(
        f"the changes did not raise it above {p_before:.2f} for the original row: "
        "change other features, or move these the opposite way"
    )


def test_margin_rejects_a_narrow_win(spec: FeatureSpec, model: Pipeline, query: dict) -> None:
    candidate = {**query, "steps": 16000, "weight": 80.0, "smoking": "never"}
    p_now = p_low_risk(model, spec, candidate)
    margin = 2 * p_now - 1 + 0.02  # p(low) - p(high) falls 0.02 short of the margin
    assert ClassifierCheck(model, spec, margin=margin - 0.04).check(query, candidate).passed
    verdict = ClassifierCheck(model, spec, margin=margin).check(query, candidate)
    assert not verdict.passed
    assert verdict.reasons[0].message.startswith(
        f"the classifier predicts 'low risk' only narrowly (p={p_now:.2f}, "
        f"needs > {0.5 + margin / 2:.2f} to win by the margin {margin:.2f}); "
        "the changes raised it from"
    )


def test_check_many_uses_one_predict_call_and_survives_bad_rows(
    spec: FeatureSpec, model: Pipeline, query: dict
) -> None:
    class CountingModel:
        def __init__(self, model: Pipeline) -> None:
            self.model = model
            self.classes_ = model.classes_
            self.calls = 0

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            self.calls += 1
            return np.asarray(self.model.predict_proba(frame))

    counting = CountingModel(model)
    check = ClassifierCheck(counting, spec)
    good = {**query, "steps": 16000, "weight": 80.0, "smoking": "never"}
    missing = {k: v for k, v in query.items() if k != "weight"}
    verdicts = check.check_many(
        query, [good, missing, {**query, "steps": "many"}, {**query, "smoking": "vape"}, query]
    )
    assert counting.calls == 1
    assert [v.passed for v in verdicts] == [True, False, False, False, False]
    assert verdicts[0].score == pytest.approx(p_low_risk(model, spec, good))
    assert verdicts[4].score == pytest.approx(p_low_risk(model, spec, query))
    for verdict, feature, message in (
        (verdicts[1], "weight", "weight is missing: give a value (30 to 250 kg)"),
        (
            verdicts[2],
            "steps",
            "steps must be a finite number (0 to 40000 steps/day): 'many' proposed",
        ),
        (
            verdicts[3],
            "smoking",
            "smoking must be one of: never, former, current: 'vape' proposed",
        ),
    ):
        assert verdict.score == 0.0
        assert verdict.reasons[0].message.startswith("the classifier cannot score this row")
        assert [(r.feature, r.message) for r in verdict.reasons[1:]] == [(feature, message)]


def test_multiclass_names_the_class_to_beat(query: dict) -> None:
    spec = make_spec({0: "low risk", 1: "medium risk", 2: "high risk"}, 0)
    frame = synthetic_frame(600, seed=1)
    frame["risk3"] = pd.cut(frame["weight"], [-np.inf, 80, 95, np.inf], labels=False)
    model = fit_model(frame, "risk3")
    proba = model.predict_proba(rows_to_frame(spec, [query]))[0]
    assert int(np.argmax(proba)) == 2
    (reason,) = ClassifierCheck(model, spec).check(query, query).reasons
    assert reason.message.startswith(
        f"the classifier still predicts 'high risk' (p={proba[0]:.2f} for 'low risk', "
        f"needs to beat p={proba[2]:.2f} for 'high risk')"
    )


def test_model_without_the_desired_class_is_rejected(model: Pipeline) -> None:
    spec = make_spec({0: "low risk", 1: "high risk", 2: "unknown"}, 2)
    with pytest.raises(ModelFileError, match="do not include the spec's desired class 2"):
        ClassifierCheck(model, spec)


def test_invalid_query_is_a_data_error(spec: FeatureSpec, model: Pipeline, query: dict) -> None:
    with pytest.raises(DataError, match="age must be a finite number"):
        ClassifierCheck(model, spec).check({**query, "age": "old"}, query)


def test_rows_to_frame_keeps_raw_values(spec: FeatureSpec, query: dict) -> None:
    frame = rows_to_frame(spec, [query, {**query, "steps": 4000.5}])
    assert list(frame.columns) == ["age", "steps", "weight", "smoking"]
    assert frame["age"].dtype == np.int64
    assert frame["steps"].tolist() == [4000.0, 4000.5]
    assert frame["smoking"].tolist() == ["current", "current"]
