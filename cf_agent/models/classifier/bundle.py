"""A fitted classifier with its spec and metadata, and wrapping a model fitted elsewhere."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
import sklearn
from pydantic import BaseModel, ConfigDict, Field

from cf_agent.data.spec import FeatureSpec
from cf_agent.errors import DataError, ModelFileError
from cf_agent.models.classifier.kinds import ModelKind

BUNDLE_SCHEMA_VERSION = 1
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
SPLIT_FILE = "split.csv"
SPLIT_COLUMN = "split"


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
