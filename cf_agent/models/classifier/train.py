"""Training the classifier to explain: the pipeline, the split and the test metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from cf_agent.data.cohort import Cohort
from cf_agent.data.spec import FeatureSpec
from cf_agent.errors import DataError
from cf_agent.models.classifier.bundle import (
    SPLIT_COLUMN,
    ClassifierBundle,
    ClassifierMetadata,
    ModelKind,
    SplitInfo,
    TrainResult,
    library_versions,
)


def _estimator(kind: ModelKind, seed: int) -> Any:
    if kind == "gbm":
        return HistGradientBoostingClassifier(random_state=seed)
    if kind == "logreg":
        return LogisticRegression(max_iter=1000, random_state=seed)
    if kind == "rf":
        return RandomForestClassifier(n_estimators=300, random_state=seed)
    if kind == "mlp":
        return MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=1000, random_state=seed)
    raise ValueError(f"unknown model kind {kind!r}; use gbm, logreg, rf or mlp")


def build_pipeline(spec: FeatureSpec, kind: ModelKind = "gbm", seed: int = 0) -> Pipeline:
    """Unfitted pipeline: one-hot categoricals (spec categories); numbers scaled for logreg/mlp."""
    estimator = _estimator(kind, seed)
    numeric = [f.name for f in spec.features if f.kind != "categorical"]
    categorical = [f for f in spec.features if f.kind == "categorical"]
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        scaler = StandardScaler() if kind in ("logreg", "mlp") else "passthrough"
        transformers.append(("numeric", scaler, numeric))
    if categorical:
        encoder = OneHotEncoder(
            categories=[list(f.categories or ()) for f in categorical],
            handle_unknown="ignore",
            sparse_output=False,
        )
        transformers.append(("categorical", encoder, [f.name for f in categorical]))
    preprocess = ColumnTransformer(transformers, remainder="drop")
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def _check_class_counts(cohort: Cohort) -> None:
    counts = cohort.labels.value_counts()
    thin = {c: int(counts.get(c, 0)) for c in cohort.spec.classes if counts.get(c, 0) < 2}
    if thin:
        listed = ", ".join(f"class {c} ({cohort.spec.classes[c]!r}): {n}" for c, n in thin.items())
        raise DataError(
            f"{cohort.source}: too few rows to train and test on every class ({listed})",
            "add at least two rows of every class listed under [classes] in the spec",
        )


def _test_metrics(
    bundle: ClassifierBundle, features: pd.DataFrame, labels: np.ndarray, minority: int
) -> dict[str, float]:
    proba = bundle.predict_proba(features)
    predicted = bundle.classes_[np.argmax(proba, axis=1)]
    metrics = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)),
        "f1_minority": float(
            f1_score(labels, predicted, labels=[minority], average="macro", zero_division=0)
        ),
    }
    if len(np.unique(labels)) == len(bundle.classes_):
        if len(bundle.classes_) == 2:
            auc = roc_auc_score(labels, proba[:, 1])
        else:
            auc = roc_auc_score(labels, proba, multi_class="ovr", labels=bundle.classes_)
        metrics["roc_auc"] = float(auc)
    return metrics


def split_positions(cohort: Cohort, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the train and test people, stratified by label (seeded)."""
    try:
        train_pos, test_pos = train_test_split(
            np.arange(len(cohort)),
            test_size=test_size,
            random_state=seed,
            stratify=cohort.labels.to_numpy(),
        )
    except ValueError as exc:
        raise DataError(
            f"{cohort.source}: cannot split {len(cohort)} rows with test_size={test_size}: {exc}",
            "use more rows, or a test_size that leaves every class in both splits",
        ) from None
    return train_pos, test_pos


def train_classifier(
    cohort: Cohort, kind: ModelKind = "gbm", test_size: float = 0.25, seed: int = 0
) -> TrainResult:
    """Fit on a split stratified by label (one row per person), score on the held-out people."""
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size}")
    _check_class_counts(cohort)
    labels = cohort.labels.to_numpy()
    train_pos, test_pos = split_positions(cohort, test_size, seed)
    features = cohort.features
    pipeline = build_pipeline(cohort.spec, kind, seed)
    pipeline.fit(features.iloc[train_pos], labels[train_pos])
    counts = cohort.labels.value_counts()
    minority = int(min(counts.index, key=lambda c: (counts[c], c)))
    metadata = ClassifierMetadata(
        kind=kind,
        spec_hash=cohort.spec.spec_hash(),
        data_hash=cohort.data_hash,
        created_at=datetime.now(UTC),
        classes=[int(c) for c in pipeline.classes_],
        versions=library_versions(),
        minority_class=minority,
        split=SplitInfo(
            seed=seed, test_size=test_size, n_train=len(train_pos), n_test=len(test_pos)
        ),
    )
    unscored = ClassifierBundle(pipeline, cohort.spec, metadata)
    metrics = _test_metrics(unscored, features.iloc[test_pos], labels[test_pos], minority)
    bundle = ClassifierBundle(
        pipeline, cohort.spec, metadata.model_copy(update={"metrics": metrics})
    )
    in_test = np.zeros(len(cohort), dtype=bool)
    in_test[test_pos] = True
    split = pd.DataFrame(
        {
            cohort.spec.id_column: cohort.ids.to_numpy(),
            SPLIT_COLUMN: np.where(in_test, "test", "train"),
        },
        dtype=object,
    )
    return TrainResult(bundle=bundle, split=split)
