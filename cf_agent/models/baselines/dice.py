"""DiCE (dice-ml) as a baseline: random sampling, genetic search or KD-tree over training rows.

DiCE takes the constraints cf-agent knows: immutable features are left out of
`features_to_vary`, and every numeric feature's `permitted_range` is the interval the spec
allows from this person's value (physiological range, direction, max_change). Categorical
and int features keep DiCE's own handling; whatever comes back is judged by cf-agent's
verifiers, whether or not DiCE thought it valid.
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd

from cf_agent.data.spec import FeatureSpec
from cf_agent.models.baselines.base import BaselineProposer
from cf_agent.models.classifier import ClassifierBundle

DiceMethod = Literal["random", "genetic", "kdtree"]


class DiceProposer(BaselineProposer):
    """dice-ml's model-agnostic explainers (random, genetic, kdtree) behind the Proposer."""

    def __init__(
        self,
        spec: FeatureSpec,
        bundle: ClassifierBundle,
        train_frame: pd.DataFrame,
        method: DiceMethod = "random",
        time_limit_s: float = 30.0,
        seed: int = 0,
    ) -> None:
        if method not in ("random", "genetic", "kdtree"):
            raise ValueError(f"unknown DiCE method {method!r}; use random, genetic or kdtree")
        super().__init__(f"dice-{method}", spec, bundle, time_limit_s=time_limit_s, seed=seed)
        import dice_ml

        self.method = method
        # bool features are 0/1 numbers to the classifier, so DiCE treats them as continuous.
        continuous = [f.name for f in spec.features if f.kind != "categorical"]
        data = dice_ml.Data(
            dataframe=train_frame[[*spec.feature_names, spec.label]],
            continuous_features=continuous,
            outcome_name=spec.label,
        )
        model = dice_ml.Model(model=self.model, backend="sklearn", model_type="classifier")
        self.explainer_ = dice_ml.Dice(data, model, method=method)
        self.features_to_vary_ = [f.name for f in spec.features if f.actionability != "immutable"]

    def permitted_range(self, row: dict[str, Any]) -> dict[str, list[float]]:
        """Per varying numeric feature, [lowest, highest] value the spec allows from `row`."""
        ranges = {}
        for name in self.features_to_vary_:
            if self.spec.feature(name).kind != "categorical":
                low, high = self.spec.feature(name).reachable(float(row[name]))
                ranges[name] = [low, high]
        return ranges

    def _search(self, row: dict[str, Any], count: int, seed: int) -> list[dict[str, Any]]:
        from raiutils.exceptions import UserConfigValidationException

        query = pd.DataFrame([row], columns=self.spec.feature_names)
        options: dict[str, Any] = {
            "total_CFs": count,
            "desired_class": self.desired_index,
            "features_to_vary": self.features_to_vary_,
            "permitted_range": self.permitted_range(row),
        }
        if self.method == "random":
            options["random_seed"] = seed
        try:
            result = self.explainer_.generate_counterfactuals(query, **options)
        except UserConfigValidationException:  # DiCE's way of saying it found none
            return []
        found = result.cf_examples_list[0].final_cfs_df
        if found is None or found.empty:
            return []
        records: list[dict[str, Any]] = found[self.spec.feature_names].to_dict(orient="records")
        return records
