"""NICE (nearest instance counterfactual explanations) as a baseline, run from the NICEx package.

NICE finds the training row nearest to the person (HEOM distance) among those the model puts in
the desired class and predicts correctly ("justified"), then copies that row's values into the
person's one feature at a time, best reward first, until the model flips. It takes no
immutables, ranges or directions: it may copy someone else's age, and the verifiers say so.
NICEx pins pandas<2 and numpy<2 in its metadata but runs on current versions; install it with
`pip install --no-deps nicex==0.2.3`. It returns one CF per person.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from cf_agent.data.spec import FeatureSpec
from cf_agent.models.baselines.base import BaselineProposer
from cf_agent.models.classifier import ClassifierBundle

NiceOptimization = Literal["sparsity", "proximity"]


class NiceProposer(BaselineProposer):
    """NICEx's NICE (sparsity or proximity reward) behind the Proposer."""

    def __init__(
        self,
        spec: FeatureSpec,
        bundle: ClassifierBundle,
        train_frame: pd.DataFrame,
        optimization: NiceOptimization = "sparsity",
        time_limit_s: float = 30.0,
        seed: int = 0,
    ) -> None:
        if optimization not in ("sparsity", "proximity"):
            raise ValueError(
                f"unknown NICE optimization {optimization!r}; use sparsity or proximity"
            )
        super().__init__("nice", spec, bundle, time_limit_s=time_limit_s, seed=seed)
        from nice import NICE

        self.optimization = optimization
        classes = [int(c) for c in bundle.classes_]
        labels = train_frame[spec.label].to_numpy()
        # NICE compares labels with argmax positions of predict_proba, so labels become positions.
        label_positions = np.asarray(
            [classes.index(int(y)) if int(y) in classes else -1 for y in labels]
        )
        self.categorical_ = [i for i, f in enumerate(spec.features) if f.kind == "categorical"]
        self.explainer_ = NICE(
            predict_fn=self._predict,
            # A writable copy: NICEx casts columns in place, and under pandas 3 copy-on-write
            # to_numpy() of an all-float frame is a read-only view of the frame's block.
            X_train=train_frame[spec.feature_names].to_numpy(dtype=object, copy=True),
            cat_feat=self.categorical_,
            num_feat="auto",
            y_train=label_positions,
            optimization=optimization,
            justified_cf=True,
        )

    def _predict(self, array: np.ndarray) -> np.ndarray:
        """predict_proba on NICE's object arrays (numbers as floats, categories as strings)."""
        frame = pd.DataFrame(np.asarray(array, dtype=object), columns=self.spec.feature_names)
        for i, feature in enumerate(self.spec.features):
            column = feature.name
            if i in self.categorical_:
                frame[column] = frame[column].astype(str)
            else:
                frame[column] = frame[column].astype(float)
        return self.model.predict_proba(frame)

    def _search(self, row: dict[str, Any], count: int, seed: int) -> list[dict[str, Any]]:
        person = np.asarray([[row[name] for name in self.spec.feature_names]], dtype=object)
        found = self.explainer_.explain(person, target_class=[self.desired_index])
        return [dict(zip(self.spec.feature_names, found[0], strict=True))]
