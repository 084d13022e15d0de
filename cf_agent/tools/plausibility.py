"""Plausibility: does the candidate look like a real person from the training cohort?

A counterfactual that flips the classifier with a body no one has (200 min of deep sleep,
resting heart rate above the mean) explains nothing. An outlier model learnt on the training
rows scores how typical a candidate is, calibrated against the training rows' own scores so
that the pass threshold means "as typical as at least this share of real people". The
spec's cross-feature rules fail a candidate whatever its score.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors

from cf_agent.data.spec import Feature, FeatureSpec
from cf_agent.errors import DataError
from cf_agent.tools.actionability import format_number, format_value, unusable_reasons
from cf_agent.tools.classifier_check import rows_to_frame
from cf_agent.tools.verdict import Reason, Verdict, VerifierName

MAX_FEATURES_NAMED = 3
# A CF passes when at least this share of training rows is less typical than it.
PASS_QUANTILE = 0.01
RARE_SHARE = 0.25  # a category fewer than this share of the nearest rows have is rare


class PlausibilityCheck:
    """Verifier: in-distribution score (LOF or isolation forest) plus the spec's rules."""

    name: VerifierName = "plausibility"

    def __init__(
        self,
        spec: FeatureSpec,
        method: Literal["lof", "iforest"] = "lof",
        threshold_quantile: float = PASS_QUANTILE,
        n_neighbors: int = 20,
        seed: int = 0,
    ) -> None:
        self.spec = spec
        self.method = method
        self.threshold_quantile = threshold_quantile
        self.n_neighbors = n_neighbors
        self.seed = seed

    @property
    def _numeric(self) -> list[Feature]:
        return [f for f in self.spec.features if f.kind != "categorical"]

    @property
    def _categorical(self) -> list[Feature]:
        return [f for f in self.spec.features if f.kind == "categorical"]

    def fit(self, train_frame: pd.DataFrame) -> PlausibilityCheck:
        """Learn the cohort: robust scales, the outlier model and the training scores."""
        if self.method not in ("lof", "iforest"):
            raise ValueError(f"method must be 'lof' or 'iforest', got {self.method!r}")
        if not 0.0 <= self.threshold_quantile < 1.0:
            raise ValueError(f"threshold_quantile must be in [0, 1), got {self.threshold_quantile}")
        if self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be at least 1, got {self.n_neighbors}")
        self._validate_training(train_frame)
        numeric = train_frame[[f.name for f in self._numeric]].to_numpy(dtype=float)
        self.median_ = np.median(numeric, axis=0)
        q25, q75 = np.percentile(numeric, [25, 75], axis=0)
        fallback = np.where(numeric.std(axis=0) > 0, numeric.std(axis=0), 1.0)
        self.scale_ = np.where(q75 - q25 > 0, q75 - q25, fallback)
        self.train_numeric_ = numeric
        self.train_categorical_ = train_frame[[f.name for f in self._categorical]].astype(str)
        encoded = self._encode(train_frame)
        n_rows = len(encoded)
        if self.method == "lof":
            lof = LocalOutlierFactor(n_neighbors=min(self.n_neighbors, n_rows - 1), novelty=True)
            self.model_: LocalOutlierFactor | IsolationForest = lof.fit(encoded)
            train_scores = lof.negative_outlier_factor_
        else:
            forest = IsolationForest(random_state=self.seed).fit(encoded)
            self.model_ = forest
            train_scores = forest.score_samples(encoded)
        self.train_scores_ = np.sort(np.asarray(train_scores, dtype=float))
        self.train_encoded_ = encoded
        self.neighbors_ = NearestNeighbors(n_neighbors=min(self.n_neighbors, n_rows)).fit(encoded)
        return self

    def _validate_training(self, frame: pd.DataFrame) -> None:
        missing = [name for name in self.spec.feature_names if name not in frame.columns]
        if missing:
            raise DataError(
                f"the training frame lacks feature columns {missing}",
                "fit the plausibility check on the training rows with every spec feature",
            )
        if len(frame) < 2:
            raise DataError(
                f"the plausibility check needs at least 2 training rows, got {len(frame)}",
                "fit it on the full training split",
            )
        for feature in self.spec.features:
            column = frame[feature.name]
            n_missing = int(column.isna().sum())
            if n_missing:
                raise DataError(
                    f"training column {feature.name} has {n_missing} missing values",
                    "impute or drop incomplete rows before fitting the plausibility check",
                )
            if feature.kind == "categorical":
                unknown = sorted(set(column.astype(str)) - set(feature.categories or ()))
                if unknown:
                    raise DataError(
                        f"training column {feature.name} has values {unknown} outside the "
                        f"spec's categories {list(feature.categories or ())}",
                        "add them to the spec's categories or fix the data",
                    )
            elif not pd.api.types.is_numeric_dtype(column):
                raise DataError(
                    f"training column {feature.name} is not numeric (dtype {column.dtype})",
                    "convert it to numbers before fitting the plausibility check",
                )

    def _encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Numeric features robust-scaled around the training median; categories one-hot."""
        numeric = frame[[f.name for f in self._numeric]].to_numpy(dtype=float)
        blocks = [(numeric - self.median_) / self.scale_]
        for feature in self._categorical:
            values = frame[feature.name].astype(str).to_numpy()
            cats = np.asarray(feature.categories or (), dtype=str)
            blocks.append((values[:, None] == cats[None, :]).astype(float))
        return np.hstack(blocks)

    def _require_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                "PlausibilityCheck is not fitted: call fit(train_frame) with the training rows "
                "before checking candidates"
            )

    def calibrated_scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Share of training rows less typical than each row: in [0, 1], higher is more typical."""
        self._require_fitted()
        raw = self.model_.score_samples(self._encode(frame))
        return np.searchsorted(self.train_scores_, raw, side="left") / len(self.train_scores_)

    def check(self, query: Mapping[str, Any], candidate: Mapping[str, Any]) -> Verdict:
        return self.check_many(query, [candidate])[0]

    def check_many(
        self, query: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]]
    ) -> list[Verdict]:
        """All candidates scored in one call; the query is not needed to judge plausibility."""
        self._require_fitted()
        problems = [unusable_reasons(self.spec, c) for c in candidates]
        usable = [c for c, p in zip(candidates, problems, strict=True) if not p]
        verdicts: list[Verdict] = []
        scored: Iterator[tuple[Mapping[str, Any], float, np.ndarray]] = iter(())
        if usable:
            frame = rows_to_frame(self.spec, usable)
            scores = self.calibrated_scores(frame)
            neighbours = self.neighbors_.kneighbors(self._encode(frame), return_distance=False)
            scored = zip(usable, scores, neighbours, strict=True)
        for reasons in problems:
            if reasons:
                note = Reason(message="plausibility cannot be judged until the values are fixed")
                verdicts.append(
                    Verdict(check=self.name, passed=False, score=0.0, reasons=(note, *reasons))
                )
            else:
                candidate, score, neighbour_rows = next(scored)
                verdicts.append(self._verdict(candidate, float(score), neighbour_rows))
        return verdicts

    def _verdict(
        self, candidate: Mapping[str, Any], score: float, neighbour_rows: np.ndarray
    ) -> Verdict:
        reasons = [Reason(message=m) for m in self._rule_messages(candidate)]
        n_rule_violations = len(reasons)
        typical = score >= self.threshold_quantile
        if not typical:
            reasons.append(
                Reason(
                    message=(
                        f"this combination of values is atypical for the cohort: only "
                        f"{score:.1%} of training rows are less typical (needs at least "
                        f"{self.threshold_quantile:.1%}); bring these features closer to "
                        "typical values"
                    )
                )
            )
            reasons.extend(self._unusual_features(candidate, neighbour_rows))
        return Verdict(
            check=self.name,
            passed=typical and n_rule_violations == 0,
            score=score,
            reasons=tuple(reasons),
            details={
                "threshold": self.threshold_quantile,
                "n_rule_violations": float(n_rule_violations),
                "method": self.method,
            },
        )

    def _rule_messages(self, candidate: Mapping[str, Any]) -> list[str]:
        messages = []
        for rule in self.spec.rules:
            message = rule.violation(dict(candidate))
            if message is None:
                continue
            units = {self.spec.feature(name).unit for name in rule.features}
            unit = units.pop() if len(units) == 1 else ""
            messages.append(f"{message} {unit}".rstrip())
        return messages

    def _unusual_features(
        self, candidate: Mapping[str, Any], neighbour_rows: np.ndarray
    ) -> list[Reason]:
        """The features that put the candidate furthest from its nearest training rows.

        Each feature's share of the mean squared distance (in the encoded space the outlier
        model sees) to the k nearest training rows ranks it. The top few that are out of line
        with those neighbours are named, with the range the neighbours and the whole cohort
        actually have; if none is out of line on its own, the top one is named.
        """
        point = self._encode(rows_to_frame(self.spec, [candidate]))[0]
        squared = (self.train_encoded_[neighbour_rows] - point) ** 2
        contributions: list[tuple[float, Feature]] = []
        column = 0
        for feature in self._numeric:
            contributions.append((float(squared[:, column].mean()), feature))
            column += 1
        for feature in self._categorical:
            width = len(feature.categories or ())
            contributions.append(
                (float(squared[:, column : column + width].sum(1).mean()), feature)
            )
            column += width
        ranked = [f for c, f in sorted(contributions, key=lambda item: -item[0]) if c > 0]
        judged = [self._unusual_feature(f, candidate[f.name], neighbour_rows) for f in ranked]
        out_of_line = [reason for reason, unusual in judged if unusual]
        return out_of_line[:MAX_FEATURES_NAMED] or [reason for reason, _ in judged[:1]]

    def _unusual_feature(
        self, feature: Feature, value: Any, neighbour_rows: np.ndarray
    ) -> tuple[Reason, bool]:
        """A reason naming the typical values, and whether value is out of line with them."""
        k = len(neighbour_rows)
        if feature.kind == "categorical":
            near = self.train_categorical_[feature.name].to_numpy()[neighbour_rows]
            labels, counts = np.unique(near, return_counts=True)
            share = float(np.mean(near == value))
            message = (
                f"{feature.name} {value!r} is rare among the {k} most similar training rows "
                f"({share:.0%} have it; most have {labels[np.argmax(counts)]!r})"
            )
            return Reason(feature=feature.name, message=message), share < RARE_SHARE
        index = self._numeric.index(feature)
        near_low, near_high = np.percentile(self.train_numeric_[neighbour_rows, index], [10, 90])
        low, high = np.percentile(self.train_numeric_[:, index], [5, 95])
        unit = f" {feature.unit}" if feature.unit else ""
        message = (
            f"{feature.name} {format_value(feature, value)} is unusual here: the {k} most "
            f"similar training rows have {format_number(near_low, 3)} to "
            f"{format_number(near_high, 3)}{unit} (cohort typical {format_number(low, 3)} to "
            f"{format_number(high, 3)}{unit})"
        )
        number = float(value)
        unusual = not (near_low <= number <= near_high and low <= number <= high)
        return Reason(feature=feature.name, message=message), unusual
