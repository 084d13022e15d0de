"""A bundle on disk: model.joblib, split.csv and metadata.json naming both files' hashes."""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path

import joblib
import pandas as pd
import sklearn
from pydantic import ValidationError
from sklearn.exceptions import InconsistentVersionWarning

from cf_agent.data.cohort import Cohort
from cf_agent.data.spec import FeatureSpec
from cf_agent.errors import DataError, ModelFileError
from cf_agent.fileio import atomic_path
from cf_agent.models.classifier.bundle import (
    BUNDLE_SCHEMA_VERSION,
    METADATA_FILE,
    MODEL_FILE,
    SPLIT_COLUMN,
    SPLIT_FILE,
    ClassifierBundle,
    ClassifierMetadata,
)

_RETRAIN = "retrain it with `cf-agent train`"


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
