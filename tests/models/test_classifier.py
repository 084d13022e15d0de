"""Training, wrapping, saving and loading the classifier that cf-agent explains."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.svm import SVC

from cf_agent.data.cohort import Cohort, frame_from_rows, load_cohort
from cf_agent.data.spec import FeatureSpec, spec_from_dict
from cf_agent.errors import DataError, ModelFileError
from cf_agent.models.classifier import (
    ClassifierBundle,
    ModelKind,
    TrainResult,
    build_pipeline,
    load_bundle,
    load_split,
    save_bundle,
    train_classifier,
    wrap_estimator,
)

SPEC_DATA: dict[str, Any] = {
    "label": "high_risk",
    "classes": {0: "low risk", 1: "high risk"},
    "desired_class": 0,
    "features": [
        {
            "name": "age",
            "kind": "int",
            "description": "Age",
            "group": "demographic",
            "low": 18,
            "high": 90,
            "actionability": "immutable",
        },
        {
            "name": "steps",
            "kind": "float",
            "description": "Daily steps",
            "group": "wearable",
            "low": 0,
            "high": 30000,
        },
        {
            "name": "diet",
            "kind": "categorical",
            "description": "Diet",
            "group": "clinical",
            "categories": ["poor", "fair", "good"],
        },
        {"name": "smoker", "kind": "bool", "description": "Smokes", "group": "clinical"},
    ],
}


def make_spec() -> FeatureSpec:
    return spec_from_dict(SPEC_DATA)


def write_cohort(path: Path, n: int = 320, seed: int = 1) -> Path:
    """A cohort where risk rises with age, smoking and poor diet and falls with steps."""
    rng = np.random.default_rng(seed)
    age = rng.integers(25, 80, n)
    steps = rng.uniform(1000, 15000, n).round(1)
    diet = rng.choice(["poor", "fair", "good"], n)
    smoker = rng.integers(0, 2, n)
    logit = (
        0.06 * (age - 50)
        - 0.0004 * (steps - 8000)
        + 1.5 * smoker
        + np.select([diet == "poor", diet == "good"], [1.0, -1.0], 0.0)
        - 0.8
        + rng.normal(0, 0.5, n)
    )
    frame = pd.DataFrame(
        {
            "person_id": [f"P{i:04d}" for i in range(n)],
            "age": age,
            "steps": steps,
            "diet": diet,
            "smoker": smoker,
            "high_risk": (logit > 0).astype(int),
        }
    )
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    path = write_cohort(tmp_path_factory.mktemp("data") / "cohort.csv")
    return load_cohort(path, make_spec())


@pytest.fixture(scope="module")
def trained(cohort: Cohort) -> TrainResult:
    return train_classifier(cohort, kind="gbm", seed=0)


@pytest.fixture
def saved(trained: TrainResult, tmp_path: Path) -> Path:
    return save_bundle(trained.bundle, trained.split, tmp_path / "model")


def test_training_learns_the_signal(trained: TrainResult, cohort: Cohort) -> None:
    metadata = trained.bundle.metadata
    assert metadata.metrics["roc_auc"] > 0.85
    assert set(metadata.metrics) == {"accuracy", "balanced_accuracy", "f1_minority", "roc_auc"}
    assert metadata.kind == "gbm"
    assert metadata.spec_hash == cohort.spec.spec_hash()
    assert metadata.data_hash == cohort.data_hash
    assert metadata.classes == [0, 1]
    assert set(metadata.versions) == {"sklearn", "numpy", "pandas", "python"}
    assert metadata.split is not None
    assert metadata.split.n_train + metadata.split.n_test == len(cohort)
    assert metadata.split.n_test == 80
    assert metadata.minority_class == int(cohort.labels.value_counts().idxmin())


KINDS: list[ModelKind] = ["gbm", "logreg", "rf", "mlp"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_trains_deterministically(cohort: Cohort, kind: ModelKind) -> None:
    first = train_classifier(cohort, kind=kind, seed=3)
    second = train_classifier(cohort, kind=kind, seed=3)
    assert first.bundle.metadata.metrics["roc_auc"] > 0.8
    proba = first.bundle.predict_proba(cohort.features)
    assert proba.shape == (len(cohort), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba, second.bundle.predict_proba(cohort.features))
    pd.testing.assert_frame_equal(first.split, second.split)


def test_split_is_stratified_and_covers_everyone(trained: TrainResult, cohort: Cohort) -> None:
    split = trained.split
    assert list(split.columns) == ["person_id", "split"]
    assert split["person_id"].tolist() == cohort.ids.tolist()
    assert set(split["split"]) == {"train", "test"}
    is_test = (split["split"] == "test").to_numpy()
    overall = cohort.labels.mean()
    assert abs(cohort.labels[is_test].mean() - overall) < 0.02
    assert abs(cohort.labels[~is_test].mean() - overall) < 0.02


def test_different_seed_draws_a_different_split(cohort: Cohort, trained: TrainResult) -> None:
    other = train_classifier(cohort, kind="logreg", seed=1)
    assert not other.split["split"].equals(trained.split["split"])


def test_predict_proba_selects_and_orders_spec_columns(
    trained: TrainResult, cohort: Cohort
) -> None:
    bundle = trained.bundle
    expected = bundle.predict_proba(cohort.features)
    shuffled = cohort.frame[["high_risk", "smoker", "diet", "person_id", "steps", "age"]]
    np.testing.assert_array_equal(bundle.predict_proba(shuffled), expected)
    assert bundle.predict(cohort.features).tolist() == bundle.classes_[expected.argmax(1)].tolist()


def test_predict_proba_names_missing_columns(trained: TrainResult, cohort: Cohort) -> None:
    with pytest.raises(DataError, match="'steps', 'smoker'"):
        trained.bundle.predict_proba(cohort.features.drop(columns=["steps", "smoker"]))


def test_bundle_scores_candidate_rows(trained: TrainResult, cohort: Cohort) -> None:
    candidate = {**cohort.rows()[0], "diet": "good", "steps": 14000.0}
    proba = trained.bundle.predict_proba(frame_from_rows([candidate], cohort.spec))
    assert proba.shape == (1, 2)


def test_save_load_round_trip(saved: Path, trained: TrainResult, cohort: Cohort) -> None:
    assert {p.name for p in saved.iterdir()} == {"model.joblib", "metadata.json", "split.csv"}
    loaded = load_bundle(saved, make_spec())
    np.testing.assert_array_equal(
        loaded.predict_proba(cohort.features), trained.bundle.predict_proba(cohort.features)
    )
    np.testing.assert_array_equal(loaded.classes_, trained.bundle.classes_)
    assert loaded.metadata.metrics == trained.bundle.metadata.metrics
    assert loaded.metadata.created_at == trained.bundle.metadata.created_at
    pd.testing.assert_frame_equal(load_split(saved), trained.split)


def test_spec_change_is_refused(saved: Path) -> None:
    changed = spec_from_dict({**SPEC_DATA, "desired_class": 1})
    with pytest.raises(ModelFileError) as info:
        load_bundle(saved, changed)
    assert make_spec().spec_hash() in info.value.message
    assert changed.spec_hash() in info.value.message
    assert "cf-agent train" in info.value.fix


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="model directory not found"):
        load_bundle(tmp_path / "nowhere", make_spec())


@pytest.mark.parametrize("name", ["model.joblib", "metadata.json", "split.csv"])
def test_missing_file_is_refused(saved: Path, name: str) -> None:
    (saved / name).unlink()
    with pytest.raises(ModelFileError, match=f"model file missing: .*{name}"):
        if name == "split.csv":
            load_split(saved)
        else:
            load_bundle(saved, make_spec())


def test_metadata_not_json_is_refused(saved: Path) -> None:
    (saved / "metadata.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_bundle(saved, make_spec())


def test_wrong_schema_version_is_refused(saved: Path) -> None:
    data = json.loads((saved / "metadata.json").read_text(encoding="utf-8"))
    data["schema_version"] = 99
    (saved / "metadata.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelFileError, match="schema_version 99"):
        load_bundle(saved, make_spec())


def test_changed_model_file_is_refused(saved: Path) -> None:
    (saved / "model.joblib").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match=r"model\.joblib does not match metadata\.json"):
        load_bundle(saved, make_spec())


def rewrite_model(saved: Path, payload: bytes) -> None:
    """Replace model.joblib and record its hash, as if metadata.json had been written with it."""
    (saved / "model.joblib").write_bytes(payload)
    data = json.loads((saved / "metadata.json").read_text(encoding="utf-8"))
    data["file_sha256"]["model.joblib"] = hashlib.sha256(payload).hexdigest()
    (saved / "metadata.json").write_text(json.dumps(data), encoding="utf-8")


def test_corrupt_joblib_is_refused(saved: Path) -> None:
    rewrite_model(saved, (saved / "model.joblib").read_bytes()[:200])
    with pytest.raises(ModelFileError, match="cannot be loaded"):
        load_bundle(saved, make_spec())


def test_joblib_without_a_classifier_is_refused(saved: Path) -> None:
    buffer = io.BytesIO()
    joblib.dump({"weights": [1, 2]}, buffer)
    rewrite_model(saved, buffer.getvalue())
    with pytest.raises(ModelFileError, match="holds a dict, not a fitted classifier"):
        load_bundle(saved, make_spec())


def test_save_refuses_a_malformed_split(trained: TrainResult, tmp_path: Path) -> None:
    bad = trained.split.assign(split="validation")
    with pytest.raises(ValueError, match="'train'/'test'"):
        save_bundle(trained.bundle, bad, tmp_path / "model")
    assert not (tmp_path / "model").exists()


def external_pipeline(cohort: Cohort, estimator: object) -> Pipeline:
    """A pipeline a user might fit outside cf-agent."""
    encode = ColumnTransformer(
        [("diet", OneHotEncoder(handle_unknown="ignore"), ["diet"])], remainder="passthrough"
    )
    pipeline = Pipeline([("encode", encode), ("model", estimator)])
    return pipeline.fit(cohort.features, cohort.labels)


def test_wrap_external_logistic_regression(cohort: Cohort) -> None:
    pipeline = external_pipeline(cohort, LogisticRegression(max_iter=2000))
    bundle = wrap_estimator(pipeline, cohort.spec)
    assert isinstance(bundle, ClassifierBundle)
    assert bundle.metadata.kind == "external"
    assert bundle.metadata.data_hash == "external"
    assert bundle.classes_.tolist() == [0, 1]
    reordered = cohort.frame[["smoker", "diet", "steps", "age"]]
    np.testing.assert_array_equal(
        bundle.predict_proba(reordered), pipeline.predict_proba(cohort.features)
    )


def test_wrap_refuses_model_without_predict_proba(cohort: Cohort) -> None:
    pipeline = external_pipeline(cohort, SVC())
    with pytest.raises(ModelFileError, match="no predict_proba"):
        wrap_estimator(pipeline, cohort.spec)


def test_wrap_refuses_unfitted_model(cohort: Cohort) -> None:
    with pytest.raises(ModelFileError, match="not fitted"):
        wrap_estimator(LogisticRegression(), cohort.spec)


def test_wrap_refuses_classes_outside_spec(cohort: Cohort) -> None:
    pipeline = external_pipeline(cohort, LogisticRegression(max_iter=2000))
    pipeline.fit(cohort.features, cohort.labels + 1)
    with pytest.raises(ModelFileError, match=r"classes \[1, 2\]"):
        wrap_estimator(pipeline, cohort.spec)


def test_training_needs_two_rows_per_class(tmp_path: Path) -> None:
    path = write_cohort(tmp_path / "cohort.csv", n=40)
    frame = pd.read_csv(path).assign(high_risk=0)
    frame.loc[0, "high_risk"] = 1
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"class 1 \('high risk'\): 1"):
        train_classifier(load_cohort(path, make_spec()))


def test_pipeline_without_categoricals(cohort: Cohort) -> None:
    numeric_only = spec_from_dict(
        {**SPEC_DATA, "features": [f for f in SPEC_DATA["features"] if f["name"] != "diet"]}
    )
    pipeline = build_pipeline(numeric_only, kind="logreg")
    pipeline.fit(cohort.features, cohort.labels)
    assert pipeline.predict_proba(cohort.features).shape == (len(cohort), 2)


def test_unknown_kind_and_bad_test_size_are_refused(cohort: Cohort) -> None:
    with pytest.raises(ValueError, match="unknown model kind 'svm'"):
        build_pipeline(cohort.spec, kind="svm")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="test_size"):
        train_classifier(cohort, test_size=1.5)
