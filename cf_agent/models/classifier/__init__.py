"""The classifier cf-agent explains: training, wrapping, and a bundle saved beside its split.

A bundle is a directory with model.joblib (the fitted pipeline), split.csv (person id -> train or
test, so evaluation and augmentation reuse the same split) and metadata.json (spec hash, data
hash, library versions, test metrics, and the SHA-256 of the other two files). Loading refuses a
bundle built for another spec or whose files do not match each other.

Modules: bundle (ClassifierBundle, its metadata, wrap_estimator), train (pipeline, split,
metrics), files (save and load a bundle, its split, the training rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cf_agent.lazy import lazy_exports

__all__ = [
    "SPLIT_COLUMN",
    "BundleVersionWarning",
    "ClassifierBundle",
    "ClassifierMetadata",
    "ModelKind",
    "SplitInfo",
    "TrainResult",
    "build_pipeline",
    "library_versions",
    "load_bundle",
    "load_split",
    "save_bundle",
    "split_positions",
    "train_classifier",
    "training_rows",
    "wrap_estimator",
]
__getattr__ = lazy_exports(
    __name__,
    {
        "SPLIT_COLUMN": "cf_agent.models.classifier.bundle",
        "ClassifierBundle": "cf_agent.models.classifier.bundle",
        "ClassifierMetadata": "cf_agent.models.classifier.bundle",
        "ModelKind": "cf_agent.models.classifier.kinds",
        "SplitInfo": "cf_agent.models.classifier.bundle",
        "TrainResult": "cf_agent.models.classifier.bundle",
        "library_versions": "cf_agent.models.classifier.bundle",
        "wrap_estimator": "cf_agent.models.classifier.bundle",
        "BundleVersionWarning": "cf_agent.models.classifier.files",
        "load_bundle": "cf_agent.models.classifier.files",
        "load_split": "cf_agent.models.classifier.files",
        "save_bundle": "cf_agent.models.classifier.files",
        "training_rows": "cf_agent.models.classifier.files",
        "build_pipeline": "cf_agent.models.classifier.train",
        "split_positions": "cf_agent.models.classifier.train",
        "train_classifier": "cf_agent.models.classifier.train",
    },
)

if TYPE_CHECKING:
    from cf_agent.models.classifier.bundle import (
        SPLIT_COLUMN,
        ClassifierBundle,
        ClassifierMetadata,
        SplitInfo,
        TrainResult,
        library_versions,
        wrap_estimator,
    )
    from cf_agent.models.classifier.files import (
        BundleVersionWarning,
        load_bundle,
        load_split,
        save_bundle,
        training_rows,
    )
    from cf_agent.models.classifier.kinds import ModelKind
    from cf_agent.models.classifier.train import build_pipeline, split_positions, train_classifier
