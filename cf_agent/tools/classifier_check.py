"""Classifier check: does the trained model really predict the desired class for the candidate?

This is the ground truth of a counterfactual; an LLM's belief that a change flips the
prediction counts for nothing until the model says so. The reason for a failure tells the
LLM how far off it is and whether its changes moved the probability the right way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from cf_agent.data.spec import FeatureSpec
from cf_agent.errors import ModelFileError
from cf_agent.tools.actionability import require_usable_query, unusable_reasons
from cf_agent.tools.verdict import Reason, Verdict, VerifierName


class ProbabilisticClassifier(Protocol):
    """What the check needs from a model: sklearn's classes_ and predict_proba on raw rows."""

    classes_: np.ndarray

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray: ...


def rows_to_frame(spec: FeatureSpec, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as the frame a classifier expects: spec feature columns in order, raw values."""
    columns: dict[str, Any] = {}
    for feature in spec.features:
        values = [row[feature.name] for row in rows]
        if feature.kind == "categorical":
            columns[feature.name] = pd.Series(values, dtype="str")
            continue
        numbers = np.asarray([float(v) for v in values], dtype=float)
        whole = feature.kind != "float" and bool(np.all(numbers == np.round(numbers)))
        columns[feature.name] = numbers.astype(np.int64) if whole else numbers
    return pd.DataFrame(columns, columns=spec.feature_names)


class ClassifierCheck:
    """Verifier: the desired class must win, by at least `margin` over every other class."""

    name: VerifierName = "classifier"

    def __init__(
        self, model: ProbabilisticClassifier, spec: FeatureSpec, margin: float = 0.0
    ) -> None:
        if not 0.0 <= margin < 1.0:
            raise ValueError(f"margin must be in [0, 1), got {margin}")
        self.model = model
        self.spec = spec
        self.margin = margin
        self.classes = [int(c) for c in model.classes_]
        if spec.desired_class not in self.classes:
            raise ModelFileError(
                f"the model's classes {self.classes} do not include the spec's desired class "
                f"{spec.desired_class}",
                "use a model trained on this spec's label, or fix desired_class in the spec",
            )
        self.desired_index = self.classes.index(spec.desired_class)

    def check(self, query: Mapping[str, Any], candidate: Mapping[str, Any]) -> Verdict:
        return self.check_many(query, [candidate])[0]

    def check_many(
        self, query: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]]
    ) -> list[Verdict]:
        """All candidates in one predict_proba call, together with the query row."""
        require_usable_query(self.spec, query)
        problems = [unusable_reasons(self.spec, c) for c in candidates]
        usable = [c for c, p in zip(candidates, problems, strict=True) if not p]
        proba = np.asarray(self.model.predict_proba(rows_to_frame(self.spec, [query, *usable])))
        p_query = float(proba[0, self.desired_index])
        scored = iter(proba[1:])
        verdicts = []
        for reasons in problems:
            if reasons:
                verdicts.append(self._unscorable(reasons))
            else:
                verdicts.append(self._verdict(next(scored), p_query))
        return verdicts

    def _unscorable(self, reasons: list[Reason]) -> Verdict:
        note = Reason(message="the classifier cannot score this row until the values are fixed")
        return Verdict(
            check=self.name,
            passed=False,
            score=0.0,
            reasons=(note, *reasons),
            details={"predicted_class": "none"},
        )

    def _meaning(self, cls: int) -> str:
        return self.spec.classes.get(cls, str(cls))

    def _verdict(self, proba: np.ndarray, p_query: float) -> Verdict:
        p_desired = float(proba[self.desired_index])
        rival_index = max(
            (i for i in range(len(self.classes)) if i != self.desired_index),
            key=lambda i: float(proba[i]),
        )
        rival, p_rival = self.classes[rival_index], float(proba[rival_index])
        predicted = self.classes[int(np.argmax(proba))]
        passed = p_desired > p_rival and p_desired - p_rival >= self.margin
        reasons = (
            () if passed else (Reason(message=self._failure(p_desired, p_rival, rival, p_query)),)
        )
        return Verdict(
            check=self.name,
            passed=passed,
            score=p_desired,
            reasons=reasons,
            details={
                "predicted_class": str(predicted),
                "predicted_meaning": self._meaning(predicted),
                "p_desired": p_desired,
                "p_desired_query": p_query,
            },
        )

    def _failure(self, p_desired: float, p_rival: float, rival: int, p_query: float) -> str:
        desired = self._meaning(self.spec.desired_class)
        if len(self.classes) == 2:
            need = f"needs > {0.5 + self.margin / 2:.2f}"
        else:
            need = f"needs to beat p={p_rival:.2f} for '{self._meaning(rival)}'"
        if self.margin > 0:
            need += f" to win by the margin {self.margin:.2f}"
        if p_desired > p_rival:
            head = f"the classifier predicts '{desired}' only narrowly (p={p_desired:.2f}, {need})"
        else:
            head = (
                f"the classifier still predicts '{self._meaning(rival)}' "
                f"(p={p_desired:.2f} for '{desired}', {need})"
            )
        if p_desired > p_query + 1e-6:
            hint = (
                f"the changes raised it from {p_query:.2f}: move the changed features further "
                "the same way, or change more features"
            )
        else:
            hint = (
                f"the changes did not raise it above {p_query:.2f} for the original row: "
                "change other features, or move these the opposite way"
            )
        return f"{head}; {hint}"
