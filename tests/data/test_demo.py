"""The demo cohort: seeded, in range, rule-abiding, with the effects its doc states."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from cf_agent.data.cohort import load_cohort
from cf_agent.data.demo import demo_spec, generate_demo_cohort, write_demo
from cf_agent.data.spec import FeatureSpec, load_spec, save_spec, spec_from_dict
from cf_agent.errors import DataError, SpecError

LABELS = ["abnormal_glucose", "high_stress"]


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return generate_demo_cohort(2000, seed=0)


def _fit_gbm(frame: pd.DataFrame, spec: FeatureSpec) -> tuple[Pipeline, pd.DataFrame, pd.Series]:
    """The doc's protocol: one-hot categoricals, gradient boosting, 25% stratified test split."""
    categorical = [f for f in spec.features if f.kind == "categorical"]
    encoder = OneHotEncoder(categories=[list(f.categories or ()) for f in categorical])
    model = make_pipeline(
        make_column_transformer((encoder, [f.name for f in categorical]), remainder="passthrough"),
        HistGradientBoostingClassifier(random_state=0),
    )
    x, y = frame[spec.feature_names], frame[spec.label]
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y
    )
    model.fit(x_train, y_train)
    return model, x_test, y_test


def test_same_seed_gives_identical_frame_and_another_seed_differs() -> None:
    pd.testing.assert_frame_equal(generate_demo_cohort(300, 5), generate_demo_cohort(300, 5))
    assert not generate_demo_cohort(300, 5).equals(generate_demo_cohort(300, 6))


def test_columns_are_id_then_spec_features_then_labels(cohort: pd.DataFrame) -> None:
    assert list(cohort.columns) == ["person_id", *demo_spec().feature_names, *LABELS]
    assert cohort["person_id"].iloc[0] == "P00001"
    assert cohort["person_id"].iloc[-1] == "P02000"
    assert cohort["person_id"].is_unique
    assert len(cohort) == 2000


@pytest.mark.parametrize(("n", "seed"), [(49, 0), (0, 0), (100, -1)])
def test_too_few_people_or_negative_seed_is_a_data_error(n: int, seed: int) -> None:
    with pytest.raises(DataError) as info:
        generate_demo_cohort(n, seed)
    assert info.value.fix


def test_unknown_target_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="unknown demo target"):
        demo_spec("sleep")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_value_lies_in_its_range_or_categories(seed: int) -> None:
    frame = generate_demo_cohort(5000, seed)
    for feature in demo_spec().features:
        column = frame[feature.name]
        if feature.kind == "categorical":
            assert set(column) <= set(feature.categories or ()), feature.name
            continue
        assert column.between(feature.low, feature.high).all(), feature.name
        if feature.kind == "int":
            assert column.dtype == np.int64, feature.name
    for label in LABELS:
        assert set(frame[label]) == {0, 1}


def test_both_rules_hold_exactly_on_every_row(cohort: pd.DataFrame) -> None:
    spec = demo_spec()
    assert len(spec.rules) == 2
    for row in cohort.to_dict(orient="records"):
        assert [rule.violation(row) for rule in spec.rules] == [None, None], row["person_id"]
    parts = cohort[["sleep_deep_min", "sleep_rem_min", "sleep_light_min"]].sum(axis=1)
    assert (parts == cohort["sleep_total_min"]).all()
    assert (cohort["resting_hr"] <= cohort["mean_hr"]).all()


@pytest.mark.parametrize("label", LABELS)
def test_minority_class_is_a_quarter_to_a_third(cohort: pd.DataFrame, label: str) -> None:
    assert 0.25 <= cohort[label].mean() <= 0.35


def test_diabetes_stages_are_roughly_balanced(cohort: pd.DataFrame) -> None:
    shares = cohort["diabetes_stage"].value_counts(normalize=True)
    assert set(shares.index) == {"none", "prediabetes", "oral_medication", "insulin"}
    assert shares.between(0.2, 0.3).all()


def test_abnormal_glucose_rises_with_diabetes_stage(cohort: pd.DataFrame) -> None:
    rate = cohort.groupby("diabetes_stage")["abnormal_glucose"].mean()
    stages = ["none", "prediabetes", "oral_medication", "insulin"]
    assert rate[stages].is_monotonic_increasing
    assert rate["insulin"] - rate["none"] > 0.5
    bmi = cohort.groupby("diabetes_stage")["bmi"].mean()
    assert bmi["insulin"] > bmi["none"]


def test_lifestyle_is_worse_in_the_abnormal_glucose_group(cohort: pd.DataFrame) -> None:
    means = cohort.groupby("abnormal_glucose")[
        ["steps", "active_minutes", "sleep_total_min", "hba1c", "glucose_cv", "time_in_range"]
    ].mean()
    assert means.loc[1, "steps"] < means.loc[0, "steps"] - 2000
    assert means.loc[1, "active_minutes"] < means.loc[0, "active_minutes"]
    assert means.loc[1, "sleep_total_min"] < means.loc[0, "sleep_total_min"]
    assert means.loc[1, "hba1c"] > means.loc[0, "hba1c"] + 1.5
    assert means.loc[1, "glucose_cv"] > means.loc[0, "glucose_cv"]
    assert means.loc[1, "time_in_range"] < means.loc[0, "time_in_range"]


def test_high_stress_shows_in_score_heart_rate_and_sleep(cohort: pd.DataFrame) -> None:
    means = cohort.groupby("high_stress")[
        ["stress_score", "resting_hr", "respiration_rate", "sleep_total_min"]
    ].mean()
    assert means.loc[1, "stress_score"] > means.loc[0, "stress_score"] + 10
    assert means.loc[1, "resting_hr"] > means.loc[0, "resting_hr"]
    assert means.loc[1, "respiration_rate"] > means.loc[0, "respiration_rate"]
    assert means.loc[1, "sleep_total_min"] < means.loc[0, "sleep_total_min"]


def test_documented_correlations(cohort: pd.DataFrame) -> None:
    corr = cohort.select_dtypes("number").corr()
    assert corr.loc["hba1c", "mean_glucose"] > 0.95
    assert corr.loc["mean_glucose", "time_in_range"] < -0.8
    assert corr.loc["glucose_cv", "time_in_range"] < -0.6
    assert corr.loc["steps", "active_minutes"] > 0.7
    assert corr.loc["steps", "resting_hr"] < -0.2
    assert corr.loc["stress_score", "sleep_total_min"] < -0.2
    assert corr.loc["bmi", "spo2_night"] < -0.3
    assert corr.loc["age", "steps"] < -0.1


def test_glucose_classifier_is_good_but_not_perfect_and_lifestyle_moves_it(
    cohort: pd.DataFrame,
) -> None:
    spec = demo_spec("glucose")
    model, x_test, y_test = _fit_gbm(cohort, spec)
    auc = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
    assert 0.85 <= auc <= 0.96
    flagged = x_test[model.predict(x_test) == 1]
    walked_and_slept = flagged.assign(
        steps=flagged["steps"] + 3000,
        sleep_total_min=flagged["sleep_total_min"] + 50,
        sleep_light_min=flagged["sleep_light_min"] + 50,
    )
    before = model.predict_proba(flagged)[:, 1]
    after = model.predict_proba(walked_and_slept)[:, 1]
    assert after.mean() < before.mean() - 0.05
    assert (model.predict(walked_and_slept) == 0).mean() > 0.1


def test_stress_classifier_learns_without_the_stress_score(cohort: pd.DataFrame) -> None:
    model, x_test, y_test = _fit_gbm(cohort, demo_spec("stress"))
    assert "stress_score" not in x_test.columns
    assert roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]) > 0.7


def test_glucose_spec_matches_the_brief() -> None:
    spec = demo_spec("glucose")
    assert spec.name == "demo-glucose"
    assert spec.label == "abnormal_glucose"
    assert spec.desired_class == 0
    assert spec.classes == {0: "normal glycaemic control", 1: "abnormal glycaemic control"}
    assert spec.other_columns == ("high_stress",)
    assert len(spec.features) == 20
    assert spec.feature("diabetes_stage").actionability == "immutable"
    assert spec.feature("hba1c").actionability == "decrease_only"
    assert spec.feature("hba1c").max_change == 1.5
    assert spec.feature("steps").max_change == 5000


def test_stress_spec_drops_the_score_it_would_leak() -> None:
    spec = demo_spec("stress")
    assert spec.name == "demo-stress"
    assert spec.label == "high_stress"
    assert spec.classes == {0: "low stress", 1: "high stress"}
    assert "stress_score" not in spec.feature_names
    assert spec.other_columns == ("stress_score", "abnormal_glucose")
    assert spec.feature_names == [n for n in demo_spec().feature_names if n != "stress_score"]


@pytest.mark.parametrize("target", ["glucose", "stress"])
def test_spec_validates_and_round_trips_through_toml(target: str, tmp_path: Path) -> None:
    spec = demo_spec(target)  # type: ignore[arg-type]
    assert spec_from_dict(spec.model_dump(mode="json")) == spec
    path = tmp_path / f"{target}.toml"
    save_spec(spec, path)
    loaded = load_spec(path)
    assert loaded == spec
    assert loaded.spec_hash() == spec.spec_hash()


def test_write_demo_writes_csv_and_both_specs(tmp_path: Path) -> None:
    files = write_demo(tmp_path / "out", n=300, seed=3)
    assert files.csv == tmp_path / "out" / "demo.csv"
    assert files.spec == tmp_path / "out" / "demo.toml"
    assert files.stress_spec == tmp_path / "out" / "demo-stress.toml"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "demo-stress.toml",
        "demo.csv",
        "demo.toml",
    ]
    pd.testing.assert_frame_equal(pd.read_csv(files.csv), generate_demo_cohort(300, 3))
    assert load_spec(files.spec) == demo_spec("glucose")
    assert load_spec(files.stress_spec) == demo_spec("stress")


def test_written_demo_loads_as_a_valid_cohort_for_both_tasks(tmp_path: Path) -> None:
    files = write_demo(tmp_path, n=200, seed=1)
    glucose = load_cohort(files.csv, load_spec(files.spec))
    stress = load_cohort(files.csv, load_spec(files.stress_spec))
    assert len(glucose) == len(stress) == 200
    assert glucose.labels.tolist() == generate_demo_cohort(200, 1)["abnormal_glucose"].tolist()
