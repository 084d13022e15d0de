"""The classifier cf-agent explains: training, wrapping, and a bundle saved beside its split.

A bundle is a directory with model.joblib (the fitted pipeline), split.csv (person id -> train or
test, so evaluation and augmentation reuse the same split) and metadata.json (spec hash, data
hash, library versions, test metrics, and the SHA-256 of the other two files). Loading refuses a
bundle built for another spec or whose files do not match each other.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import pandas as pd
import sklearn
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from cf_agent.data.cohort import Cohort
from cf_agent.data.spec import FeatureSpec
from cf_agent.errors import DataError, ModelFileError
from cf_agent.fileio import atomic_path

BUNDLE_SCHEMA_VERSION = 1
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
SPLIT_FILE = "split.csv"
SPLIT_COLUMN = "split"
_RETRAIN = "retrain it with `cf-agent train`"

ModelKind = Literal["gbm", "logreg", "rf", "mlp"]


class SplitInfo(BaseModel):
    """How the train/test split was drawn."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(description="random_state of the split and the estimator.")
    test_size: float = Field(gt=0, lt=1, description="Fraction of people held out for testing.")
    n_train: int = Field(ge=1, description="People the model was fitted on.")
    n_test: int = Field(ge=1, description="People the metrics were computed on.")


class ClassifierMetadata(BaseModel):
    """What a saved model was built from and how well it did on held-out people."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(default=BUNDLE_SCHEMA_VERSION, description="Bundle format.")
    kind: ModelKind | Literal["external"] = Field(
        description="Estimator family, or 'external' for a model fitted outside cf-agent."
    )
    spec_hash: str = Field(description="FeatureSpec.spec_hash() of the spec it was built for.")
    data_hash: str = Field(description="Cohort.data_hash of the training file, or 'external'.")
    created_at: datetime = Field(description="When the bundle was made (UTC).")
    classes: list[int] = Field(description="Class values in predict_proba column order.")
    versions: dict[str, str] = Field(description="sklearn, numpy, pandas and python versions.")
    metrics: dict[str, float] = Field(
        default_factory=dict,
        description="Test-split accuracy, balanced_accuracy, f1_minority and roc_auc.",
    )
    minority_class: int | None = Field(
        default=None, description="The rarest class in the data; f1_minority is its F1."
    )
    split: SplitInfo | None = Field(default=None, description="Train/test split, if trained here.")
    file_sha256: dict[str, str] = Field(
        default_factory=dict, description="SHA-256 of model.joblib and split.csv when saved."
    )


def library_versions() -> dict[str, str]:
    return {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


class ClassifierBundle:
    """A fitted estimator with its spec: takes the raw feature frame, returns class probabilities.

    `estimator` is any fitted object with `classes_` and `predict_proba` that accepts a DataFrame
    of the spec's features (categoricals as strings), e.g. the pipeline of `build_pipeline`.
    """

    def __init__(self, estimator: Any, spec: FeatureSpec, metadata: ClassifierMetadata) -> None:
        self.estimator = estimator
        self.spec = spec
        self.metadata = metadata
        self.classes_ = np.asarray(estimator.classes_)

    def _feature_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [name for name in self.spec.feature_names if name not in frame.columns]
        if missing:
            raise DataError(
                f"the classifier needs {len(missing)} feature column(s) the frame lacks: "
                f"{', '.join(map(repr, missing))}",
                "pass a frame with every feature of the spec (see frame_from_rows)",
            )
        return frame[self.spec.feature_names]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities, one column per entry of `classes_`."""
        return np.asarray(self.estimator.predict_proba(self._feature_frame(frame)), dtype=float)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(frame), axis=1)]


@dataclass(frozen=True)
class TrainResult:
    """A trained bundle and the split it was evaluated on (columns: id column, 'split')."""

    bundle: ClassifierBundle
    split: pd.DataFrame


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


def wrap_estimator(
    estimator: Any, spec: FeatureSpec, data_hash: str = "external"
) -> ClassifierBundle:
    """Bundle a model fitted elsewhere: it must be fitted, probabilistic, with the spec classes."""
    name = type(estimator).__name__
    if not hasattr(estimator, "predict_proba"):
        raise ModelFileError(
            f"the model ({name}) has no predict_proba, so its class probabilities are unknown",
            "use a probabilistic classifier (e.g. SVC(probability=True) or CalibratedClassifierCV)",
        )
    if not hasattr(estimator, "classes_"):
        raise ModelFileError(f"the model ({name}) is not fitted", "fit it before passing it")
    classes = [int(c) for c in np.asarray(estimator.classes_)]
    if not set(classes) <= set(spec.classes):
        raise ModelFileError(
            f"the model ({name}) predicts classes {classes}, "
            f"but the spec's classes are {sorted(spec.classes)}",
            "train it on labels coded as in the spec's [classes]",
        )
    metadata = ClassifierMetadata(
        kind="external",
        spec_hash=spec.spec_hash(),
        data_hash=data_hash,
        created_at=datetime.now(UTC),
        classes=classes,
        versions=library_versions(),
    )
    return ClassifierBundle(estimator, spec, metadata)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_bundle(bundle: ClassifierBundle, split: pd.DataFrame, out_dir: Path | str) -> Path:
    """Write model.joblib, split.csv and (last, naming both files' hashes) metadata.json."""
    out = Path(out_dir)
    columns = [bundle.spec.id_column, SPLIT_COLUMN]
    if list(split.columns) != columns or not split[SPLIT_COLUMN].isin(("train", "test")).all():
        raise ValueError(f"split must have columns {columns} with values 'train'/'test'")
    model_buffer = io.BytesIO()
    joblib.dump(bundle.estimator, model_buffer)
    payloads = {
        MODEL_FILE: model_buffer.getvalue(),
        SPLIT_FILE: split.to_csv(index=False).encode("utf-8"),
    }
    metadata = bundle.metadata.model_copy(
        update={"file_sha256": {name: _sha256(data) for name, data in payloads.items()}}
    )
    payloads[METADATA_FILE] = metadata.model_dump_json(indent=2).encode("utf-8")
    for name, data in payloads.items():
        with atomic_path(out / name) as tmp:
            tmp.write_bytes(data)
    return out


def _read_file(model_dir: Path, name: str) -> bytes:
    path = model_dir / name
    if not path.is_file():
        raise ModelFileError(f"model file missing: {path}", _RETRAIN)
    return path.read_bytes()


def _read_metadata(model_dir: Path) -> ClassifierMetadata:
    if not model_dir.is_dir():
        raise ModelFileError(
            f"model directory not found: {model_dir}",
            "pass --model DIR of a model saved by `cf-agent train`, or train one",
        )
    raw = _read_file(model_dir, METADATA_FILE)
    path = model_dir / METADATA_FILE
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} is not valid JSON: {exc}", _RETRAIN) from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != BUNDLE_SCHEMA_VERSION:
        raise ModelFileError(
            f"{path} has schema_version {version!r}; this cf-agent reads {BUNDLE_SCHEMA_VERSION}",
            _RETRAIN,
        )
    try:
        return ClassifierMetadata.model_validate(data)
    except ValidationError as exc:
        raise ModelFileError(f"{path} is malformed: {exc.errors()[0]['msg']}", _RETRAIN) from None


def _read_checked(model_dir: Path, name: str, metadata: ClassifierMetadata) -> bytes:
    """The file's bytes, refused unless they are the ones metadata.json was written with."""
    data = _read_file(model_dir, name)
    if metadata.file_sha256.get(name) != _sha256(data):
        raise ModelFileError(
            f"{model_dir / name} does not match {METADATA_FILE} (changed or partly written)",
            _RETRAIN,
        )
    return data


class BundleVersionWarning(UserWarning):
    """A bundle saved by another patch release of scikit-learn: it loads, but say so."""


def _release(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def _check_sklearn_version(model_dir: Path, metadata: ClassifierMetadata) -> None:
    """Refuse a bundle pickled by another scikit-learn release; warn for another patch.

    scikit-learn supports loading a pickle only with the version that wrote it. Patch releases
    keep estimators' internals (so the bundle loads, with a warning); a minor or major release
    may change them, and a model that loads can then predict wrongly, so it is refused.
    """
    saved, here = metadata.versions.get("sklearn"), sklearn.__version__
    if saved is None or saved == here:
        return
    path = model_dir / MODEL_FILE
    if _release(saved) != _release(here):
        raise ModelFileError(
            f"{path} was saved by scikit-learn {saved}, but this environment has {here}; "
            "scikit-learn cannot load a model across releases safely",
            f"{_RETRAIN} in this environment, or install scikit-learn=={saved}",
        )
    warnings.warn(
        f"{path} was saved by scikit-learn {saved} and is loaded by {here} (another patch "
        f"release); {_RETRAIN} to silence this",
        BundleVersionWarning,
        stacklevel=3,
    )


def load_bundle(model_dir: Path | str, spec: FeatureSpec) -> ClassifierBundle:
    """Load a saved bundle, refusing one built for a different spec."""
    model_dir = Path(model_dir)
    metadata = _read_metadata(model_dir)
    if metadata.spec_hash != spec.spec_hash():
        raise ModelFileError(
            f"model in {model_dir} was trained for spec hash {metadata.spec_hash}, "
            f"but the spec given has hash {spec.spec_hash()} (the spec changed since training)",
            f"{_RETRAIN} on the current spec, or pass the spec it was trained with",
        )
    data = _read_checked(model_dir, MODEL_FILE, metadata)
    _check_sklearn_version(model_dir, metadata)
    try:
        with warnings.catch_warnings():  # sklearn's own version warning: ours says more
            warnings.simplefilter("ignore", InconsistentVersionWarning)
            estimator = joblib.load(io.BytesIO(data))
    except Exception as exc:  # unpickling raises many types for damaged or foreign files
        raise ModelFileError(
            f"{model_dir / MODEL_FILE} cannot be loaded: {type(exc).__name__}: {exc}", _RETRAIN
        ) from None
    if not hasattr(estimator, "predict_proba") or not hasattr(estimator, "classes_"):
        raise ModelFileError(
            f"{model_dir / MODEL_FILE} holds a {type(estimator).__name__}, not a fitted classifier",
            _RETRAIN,
        )
    return ClassifierBundle(estimator, spec, metadata)


def load_split(model_dir: Path | str) -> pd.DataFrame:
    """The saved split: one row per person id, 'split' is 'train' or 'test'."""
    model_dir = Path(model_dir)
    metadata = _read_metadata(model_dir)
    data = _read_checked(model_dir, SPLIT_FILE, metadata)
    split = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False).astype(object)
    if len(split.columns) != 2 or split.columns[1] != SPLIT_COLUMN:
        raise ModelFileError(f"{model_dir / SPLIT_FILE} lacks the 'split' column", _RETRAIN)
    return split


def training_rows(cohort: Cohort, model_dir: Path | str) -> pd.DataFrame:
    """The cohort's rows the bundle was trained on (its saved split), sorted by id.

    Sorted so that what learns from them (plausibility, baselines) is the same whatever order
    the data file lists people in, e.g. a Ray shard's file that lists its own people first.
    """
    split = load_split(model_dir)
    id_column = cohort.spec.id_column
    train_ids = set(split.loc[split[SPLIT_COLUMN] == "train", id_column].astype(str))
    ids = cohort.ids.astype(str)
    order = ids[ids.isin(train_ids)].sort_values(kind="stable").index
    if len(order) == 0:
        raise DataError(
            f"none of the people in {cohort.source} are in the training split of {model_dir}",
            "pass the data file the classifier was trained on (`cf-agent train --data`)",
        )
    return cohort.frame.loc[order].reset_index(drop=True)
