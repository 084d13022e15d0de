"""The scarce model as CF methods query it: the fitted pipeline, minus sklearn's per-call cost.

A search such as `search` asks the model a few times per step for every source row, and most of
the time then goes to ColumnTransformer's bookkeeping on one-row frames, not to the model. The
study needs CFs for every row up to class balance, so the teacher encodes rows with plain numpy
(the same scaling and one-hot categories as the fitted pipeline) and calls its final estimator
directly: the same probabilities, several times faster.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from cf_agent.data.spec import FeatureSpec


class FastPipeline:
    """A fitted `build_pipeline` pipeline whose predict_proba skips ColumnTransformer."""

    def __init__(self, pipeline: Pipeline, spec: FeatureSpec) -> None:
        self.pipeline = pipeline
        self.model = pipeline.named_steps["model"]
        self.classes_ = np.asarray(pipeline.classes_)
        preprocess = pipeline.named_steps["preprocess"]
        self.blocks: list[tuple[str, Any, list[str]]] = [
            (name, transformer, list(columns))
            for name, transformer, columns in preprocess.transformers_
            if name != "remainder"
        ]
        self.spec = spec

    def _encode(self, frame: pd.DataFrame) -> np.ndarray:
        parts = []
        for name, transformer, columns in self.blocks:
            if name == "numeric":
                values = frame[columns].to_numpy(dtype=float)
                if isinstance(transformer, StandardScaler):
                    values = (values - transformer.mean_) / transformer.scale_
                parts.append(values)
            else:
                for column, categories in zip(columns, transformer.categories_, strict=True):
                    values = frame[column].astype(str).to_numpy()
                    parts.append((values[:, None] == categories[None, :]).astype(float))
        return np.hstack(parts)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(self._encode(frame)), dtype=float)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(frame), axis=1)])
