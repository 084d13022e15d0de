"""A small world for agent tests: the demo cohort and a real sklearn classifier on steps.

Fixtures live in tests/conftest.py. The classifier learns 'abnormal = steps below 8,000' with
a real LogisticRegression on the demo cohort's own rows, so a test knows which proposals flip it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cf_agent.data.cohort import Cohort, load_cohort
from cf_agent.data.demo import write_demo
from cf_agent.data.spec import FeatureSpec, load_spec
from cf_agent.models.classifier import ClassifierBundle, save_bundle, wrap_estimator
from cf_agent.tools.actionability import ActionabilityCheck
from cf_agent.tools.classifier_check import ClassifierCheck
from cf_agent.tools.plausibility import PlausibilityCheck
from cf_agent.tools.verifiers import Verifiers

STEP_THRESHOLD = 8000


@dataclass
class World:
    data: Path
    spec_path: Path
    spec: FeatureSpec
    cohort: Cohort
    bundle: ClassifierBundle
    verifiers: Verifiers

    def query(self, steps_below: int = 1500) -> dict[str, Any]:
        """A real cohort row whose steps lie `steps_below` or more under the threshold."""
        frame = self.cohort.frame
        rows = frame[frame["steps"] < STEP_THRESHOLD - steps_below]
        return {n: _plain(rows.iloc[0][n]) for n in self.spec.feature_names}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def steps_classifier(cohort: Cohort) -> ClassifierBundle:
    """A real LogisticRegression that learns abnormal = steps below STEP_THRESHOLD."""
    spec = cohort.spec
    x = cohort.frame[spec.feature_names]
    y = (x["steps"] < STEP_THRESHOLD).astype(int)
    pipeline = make_pipeline(
        ColumnTransformer([("steps", StandardScaler(), ["steps"])]),
        LogisticRegression(C=100.0, max_iter=1000),
    )
    pipeline.fit(x, y)
    return wrap_estimator(pipeline, spec, data_hash=cohort.data_hash)


def build_world(out: Path) -> World:
    files = write_demo(out, n=600, seed=1)
    spec = load_spec(files.spec)
    cohort = load_cohort(files.csv, spec)
    bundle = steps_classifier(cohort)
    verifiers = Verifiers(
        classifier_check=ClassifierCheck(bundle, spec),
        actionability=ActionabilityCheck(spec),
        plausibility=PlausibilityCheck(spec).fit(cohort.frame[spec.feature_names]),
    )
    return World(files.csv, files.spec, spec, cohort, bundle, verifiers)


def save_world_model(world: World, out: Path) -> Path:
    """Save the classifier as a bundle with a train/test split, as `cf-agent train` would."""
    ids = world.cohort.frame[world.spec.id_column]
    split = pd.DataFrame(
        {
            world.spec.id_column: ids,
            "split": ["test" if i % 4 == 0 else "train" for i in range(len(ids))],
        }
    )
    save_bundle(world.bundle, split, out)
    return out
