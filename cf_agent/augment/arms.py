"""The study's arms: how each training set is built, and how its classifier is scored.

Every arm trains the same pipeline (`build_pipeline`: kind and seed fixed per seed) and is
scored on the same untouched test split. Arms: `scarce` (the scarce rows alone), `full` (the
whole training split: the ceiling), the imbalanced-learn resamplers (`smote`, `adasyn`,
`borderline-smote`, `oversample`), `cf:<method>` (scarce rows plus verified counterfactuals
labelled with the minority class), and `cf:<method>+pull<p>` (the same CF rows, each pulled a
random fraction up to p of the way toward a nearby minority row: `pulled_toward_minority`).

SMOTE handles the categorical columns as SMOTE-NC does (the majority category among the
neighbours, never an interpolated category); bool flags count as categorical so they stay 0/1.
ADASYN and borderline-SMOTE have no categorical variant: they interpolate one-hot columns, and
each new row takes the category whose column came out largest (the nearer parent's). Neighbours
are searched on standardised numbers (raw units would let steps/day decide every neighbour),
and the interpolated rows are mapped back to raw units; int features are rounded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from cf_agent.augment.options import Resampler
from cf_agent.data.spec import FeatureSpec
from cf_agent.models.classifier import ModelKind, build_pipeline

ARM_SCARCE = "scarce"
ARM_FULL = "full"
CF_ARM_PREFIX = "cf:"
MAX_SMOTE_NEIGHBOURS = 5
PULL_NEIGHBOURS = 5

RESAMPLERS: tuple[Resampler, ...] = ("smote", "adasyn", "borderline-smote", "oversample")


def cf_arm(method: str, pull: float = 0.0) -> str:
    """The arm name of a CF method: 'cf:dice-random', or 'cf:search+pull0.5' for its CF rows
    pulled up to half way toward minority rows."""
    return CF_ARM_PREFIX + method + (f"+pull{pull:g}" if pull else "")


def training_columns(spec: FeatureSpec) -> list[str]:
    return [*spec.feature_names, spec.label]


def fit_classifier(spec: FeatureSpec, kind: ModelKind, seed: int, train: pd.DataFrame) -> Pipeline:
    """The cf-agent pipeline fitted on `train` (features and label); one thread (small data)."""
    pipeline = build_pipeline(spec, kind, seed)
    with threadpool_limits(limits=1):
        pipeline.fit(train[spec.feature_names], train[spec.label].to_numpy())
    return pipeline


def score_classifier(
    model: Any, spec: FeatureSpec, test: pd.DataFrame, minority: int
) -> dict[str, float]:
    """Test F1 of the minority class, ROC-AUC (minority vs rest; one-vs-rest for more classes)
    and balanced accuracy."""
    labels = test[spec.label].to_numpy()
    with threadpool_limits(limits=1):
        proba = np.asarray(model.predict_proba(test[spec.feature_names]), dtype=float)
    classes = np.asarray(model.classes_)
    predicted = classes[np.argmax(proba, axis=1)]
    if len(classes) == 2:
        auc = roc_auc_score(labels == minority, proba[:, list(classes).index(minority)])
    else:
        auc = roc_auc_score(labels, proba, multi_class="ovr", labels=classes)
    return {
        "f1_minority": float(
            f1_score(labels, predicted, labels=[minority], average="macro", zero_division=0)
        ),
        "roc_auc": float(auc),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)),
    }


def class_gap(train: pd.DataFrame, label: str, minority: int) -> int:
    """Minority rows to add until the minority class is as large as the largest class."""
    counts = train[label].value_counts()
    return max(0, int(counts.max()) - int(counts.get(minority, 0)))


def _categorical(spec: FeatureSpec) -> list[str]:
    return [f.name for f in spec.features if f.kind in ("categorical", "bool")]


def _sampler(
    resampler: Resampler, spec: FeatureSpec, target: dict[int, int], neighbours: int, seed: int
) -> Any:
    from imblearn.over_sampling import (
        ADASYN,
        SMOTE,
        SMOTEN,
        SMOTENC,
        BorderlineSMOTE,
        RandomOverSampler,
    )

    if resampler == "oversample":
        return RandomOverSampler(sampling_strategy=target, random_state=seed)
    options = {"sampling_strategy": target, "random_state": seed}
    if resampler == "adasyn":
        return ADASYN(n_neighbors=neighbours, **options)
    if resampler == "borderline-smote":
        return BorderlineSMOTE(k_neighbors=neighbours, **options)
    categorical = _categorical(spec)
    if not categorical:
        return SMOTE(k_neighbors=neighbours, **options)
    if len(categorical) == len(spec.features):
        return SMOTEN(k_neighbors=neighbours, **options)
    return SMOTENC(categorical_features=categorical, k_neighbors=neighbours, **options)


def _one_hot(spec: FeatureSpec, features: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as 0/1 columns 'name=category' (ADASYN, borderline-SMOTE)."""
    encoded = features.copy()
    for feature in spec.features:
        if feature.kind == "categorical":
            values = encoded.pop(feature.name).astype(str)
            for category in feature.categories or ():
                encoded[f"{feature.name}={category}"] = (values == category).astype(float)
    return encoded


def _from_one_hot(spec: FeatureSpec, encoded: pd.DataFrame) -> pd.DataFrame:
    """Each categorical takes the category whose interpolated column is largest."""
    decoded = encoded.copy()
    for feature in spec.features:
        if feature.kind == "categorical":
            categories = list(feature.categories or ())
            columns = [f"{feature.name}={c}" for c in categories]
            picks = np.argmax(decoded[columns].to_numpy(dtype=float), axis=1)
            decoded = decoded.drop(columns=columns)
            decoded[feature.name] = [categories[i] for i in picks]
    return decoded[spec.feature_names]


def resample(
    resampler: Resampler,
    spec: FeatureSpec,
    train: pd.DataFrame,
    minority: int,
    n_new: int,
    seed: int,
) -> pd.DataFrame:
    """`train` (features and label) plus `n_new` synthetic rows of the minority class.

    ADASYN decides itself how many rows each minority row seeds and may miss `n_new` by a few
    (or add none for small n); the table's rows-added column says how many it really added.
    """
    base = train[training_columns(spec)].reset_index(drop=True)
    if n_new <= 0:
        return base
    features = base[spec.feature_names].copy()
    n_minority = int((base[spec.label] == minority).sum())
    if resampler != "oversample" and n_minority < 2:
        raise ValueError(
            f"{resampler} needs at least two rows of class {minority}, got {n_minority}"
        )
    interpolating = resampler in ("adasyn", "borderline-smote")
    if interpolating:
        features = _one_hot(spec, features)
    numeric = [f.name for f in spec.features if f.name not in _categorical(spec)]
    scaler = (
        StandardScaler().fit(features[numeric]) if numeric and resampler != "oversample" else None
    )
    if scaler is not None:
        features[numeric] = scaler.transform(features[numeric])
    neighbours = min(MAX_SMOTE_NEIGHBOURS, n_minority - 1)
    sampler = _sampler(resampler, spec, {minority: n_minority + n_new}, neighbours, seed)
    try:
        with threadpool_limits(limits=1):
            resampled, _ = sampler.fit_resample(features, base[spec.label].to_numpy())
    except (ValueError, RuntimeError):
        if resampler != "adasyn":
            raise
        return base  # ADASYN found no minority row with majority neighbours to seed from
    new = pd.DataFrame(resampled, columns=features.columns).iloc[len(base) :]
    new = new.reset_index(drop=True)
    if scaler is not None:
        new[numeric] = scaler.inverse_transform(new[numeric].to_numpy(dtype=float))
    if interpolating:
        new = _from_one_hot(spec, new)
    for feature in spec.features:
        column = new[feature.name]
        if feature.kind in ("int", "bool"):
            new[feature.name] = np.round(column.to_numpy(dtype=float)).astype(np.int64)
        elif feature.kind == "float":
            new[feature.name] = column.to_numpy(dtype=float)
        else:
            new[feature.name] = column.astype(str)
    new[spec.label] = minority
    return pd.concat([base, new[training_columns(spec)]], ignore_index=True)


def pulled_toward_minority(
    spec: FeatureSpec,
    train: pd.DataFrame,
    cf_rows: pd.DataFrame,
    minority: int,
    pull: float,
    seed: int,
) -> pd.DataFrame:
    """The CF rows, each moved a random fraction in [0, pull] of the way toward one of its
    PULL_NEIGHBOURS nearest minority rows of `train` (numbers only, neighbours found on
    standardised numbers; categories and 0/1 flags stay the CF's; ints rounded).

    Why: a CF lies just past the scarce model's boundary, and SMOTE's rows lie between known
    minority rows; the pulled rows fill the band between the two, where the scarce model
    errs. Row i's draws depend on the seed and i only, so the first n pulled rows are the same
    whatever number of CF rows follows them (the counts of one study take prefixes).
    """
    pulled = cf_rows.reset_index(drop=True).copy()
    numeric = [f.name for f in spec.features if f.name not in _categorical(spec)]
    if pull <= 0 or pulled.empty or not numeric:
        return pulled
    anchors = train[train[spec.label] == minority]
    if anchors.empty:
        raise ValueError(f"no rows of class {minority} to pull the CF rows toward")
    scaler = StandardScaler().fit(train[numeric])
    k = min(PULL_NEIGHBOURS, len(anchors))
    finder = NearestNeighbors(n_neighbors=k).fit(scaler.transform(anchors[numeric]))
    _, nearest = finder.kneighbors(scaler.transform(pulled[numeric]))
    draws = np.random.default_rng(seed).random((len(pulled), 2))
    picks = nearest[np.arange(len(pulled)), (draws[:, 0] * k).astype(int)]
    start = pulled[numeric].to_numpy(dtype=float)
    toward = anchors[numeric].to_numpy(dtype=float)[picks]
    moved = start + draws[:, 1:] * pull * (toward - start)
    for j, name in enumerate(numeric):
        is_int = spec.feature(name).kind == "int"
        pulled[name] = np.round(moved[:, j]).astype(np.int64) if is_int else moved[:, j]
    return pulled


def with_counterfactuals(
    spec: FeatureSpec, train: pd.DataFrame, cf_rows: pd.DataFrame, minority: int
) -> pd.DataFrame:
    """`train` (features and label) plus the CF rows labelled with the minority class."""
    base = train[training_columns(spec)]
    added = cf_rows[spec.feature_names].assign(**{spec.label: minority})
    return pd.concat([base, added], ignore_index=True)
