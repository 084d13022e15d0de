"""CFNOW as a baseline: greedy or random search for a first CF, then time-boxed fine-tuning.

CFNOW searches a numeric vector: categorical features go in one-hot (`has_ohe`; the columns are
renamed so CFNOW's underscore-prefix grouping sees exactly one group per feature), numeric
features as numbers. It takes no list of fixed features, so cf-agent hands it the mutable
features only and fills the immutable ones from the person's row inside the model function;
ranges, directions and max_change it cannot take, and the verifiers report what it breaks.
The model function decodes each vector to a raw row (int features rounded, the category with
the largest one-hot value) before the classifier sees it, so the returned CF is exactly the
row CFNOW was told flips the model. CFNOW's fine-tuning stops after `limit_seconds`.
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

import numpy as np
import pandas as pd

from cf_agent.data.spec import Feature, FeatureSpec
from cf_agent.models.baselines.base import BaselineProposer
from cf_agent.models.classifier import ClassifierBundle

CfnowStrategy = Literal["greedy", "random"]


def import_cfnow() -> Any:
    """Import cfnow without its import-time `nltk.download('wordnet')` (a network fetch).

    The tabular search never touches WordNet (only cfnow's text explainer does), so the
    download is skipped; the corpus stays a lazy loader that nothing here reads.
    """
    import nltk

    download = nltk.download
    nltk.download = lambda *args, **kwargs: False
    try:
        return importlib.import_module("cfnow")
    finally:
        nltk.download = download


class OneHotCodec:
    """Rows <-> CFNOW vectors of the mutable features: n<i> number, c<i>_<j> one-hot, b<i> flag."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self.mutable: list[tuple[int, Feature]] = [
            (i, f) for i, f in enumerate(spec.features) if f.actionability != "immutable"
        ]
        self.columns: list[str] = []
        self.feat_types: dict[str, str] = {}
        for i, feature in self.mutable:
            if feature.kind == "categorical":
                names = [f"c{i}_{j}" for j in range(len(feature.categories or ()))]
                kind = "cat"
            else:
                names = [f"b{i}" if feature.kind == "bool" else f"n{i}"]
                kind = "cat" if feature.kind == "bool" else "num"
            self.columns += names
            self.feat_types.update(dict.fromkeys(names, kind))

    def encode(self, row: dict[str, Any]) -> pd.Series:
        values: list[float] = []
        for _, feature in self.mutable:
            if feature.kind == "categorical":
                values += [float(row[feature.name] == c) for c in feature.categories or ()]
            else:
                values.append(float(row[feature.name]))
        return pd.Series(values, index=self.columns, dtype=float)

    def decode(self, vectors: Any, row: dict[str, Any]) -> pd.DataFrame:
        """Raw feature rows: immutables from `row`, the rest decoded from the vectors."""
        array = np.asarray(vectors, dtype=float).reshape(-1, len(self.columns))
        columns: dict[str, Any] = {f.name: [row[f.name]] * len(array) for f in self.spec.features}
        position = 0
        for _, feature in self.mutable:
            if feature.kind == "categorical":
                width = len(feature.categories or ())
                block = array[:, position : position + width]
                categories = np.asarray(feature.categories, dtype=object)
                columns[feature.name] = categories[block.argmax(axis=1)]
                position += width
                continue
            values = array[:, position]
            if feature.kind != "float":
                values = np.round(values).astype(np.int64)
            columns[feature.name] = values
            position += 1
        return pd.DataFrame(columns, columns=self.spec.feature_names)


class CfnowProposer(BaselineProposer):
    """CFNOW's tabular search (greedy or random) behind the Proposer."""

    def __init__(
        self,
        spec: FeatureSpec,
        bundle: ClassifierBundle,
        strategy: CfnowStrategy = "greedy",
        limit_seconds: float = 3.0,
        time_limit_s: float = 30.0,
        seed: int = 0,
    ) -> None:
        if strategy not in ("greedy", "random"):
            raise ValueError(f"unknown CFNOW strategy {strategy!r}; use greedy or random")
        if limit_seconds <= 0:
            raise ValueError(f"limit_seconds must be positive, got {limit_seconds}")
        super().__init__(f"cfnow-{strategy}", spec, bundle, time_limit_s=time_limit_s, seed=seed)
        self.strategy = strategy
        self.limit_seconds = limit_seconds
        self.codec_ = OneHotCodec(spec)
        self.cfnow_ = import_cfnow()

    def _p_desired(self, vectors: Any, row: dict[str, Any]) -> np.ndarray:
        """One column: p(desired class). CFNOW searches for the vector that lifts it over 0.5."""
        if isinstance(vectors, pd.DataFrame):
            vectors = vectors.to_numpy(dtype=float)
        proba = self.model.predict_proba(self.codec_.decode(vectors, row))
        return proba[:, [self.desired_index]]

    def _find(self, factual: pd.Series, row: dict[str, Any], count: int) -> Any:
        return self.cfnow_.find_tabular(
            factual=factual,
            model_predict_proba=lambda vectors: self._p_desired(vectors, row),
            count_cf=count,
            feat_types=self.codec_.feat_types,
            cf_strategy=self.strategy,
            has_ohe=True,
            limit_seconds=self.limit_seconds,
        )

    def _search(self, row: dict[str, Any], count: int, seed: int) -> list[dict[str, Any]]:
        factual = self.codec_.encode(row)
        if float(self._p_desired(factual.to_numpy()[None, :], row)[0, 0]) > 0.5:
            raise ValueError("the person is already predicted as the desired class")
        try:
            result = self._find(factual, row, count)
        except ValueError as exc:
            # cfnow 0.0.6's fine-tuning concatenates an empty candidate set when count_cf > 1
            # and every new candidate is a known one; its search for one CF stands.
            if count == 1 or "same number of dimensions" not in str(exc):
                raise
            result = self._find(factual, row, 1)
        rows: list[dict[str, Any]] = []
        for vector in result.cfs:
            decoded = self.codec_.decode(vector, row).to_dict(orient="records")[0]
            if decoded not in rows:
                rows.append(decoded)
            if len(rows) == count:
                break
        return rows
