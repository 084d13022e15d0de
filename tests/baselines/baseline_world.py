"""A small demo cohort with a trained logistic-regression bundle, built once per test session.

Baseline and evaluation tests share it: 300 people from the demo's structural model, the
classifier saved with its train/test split exactly as `cf-agent train` saves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cf_agent.agent.queries import Query, plan_queries
from cf_agent.data.cohort import Cohort, load_cohort
from cf_agent.data.demo import write_demo
from cf_agent.data.spec import FeatureSpec, load_spec
from cf_agent.models.classifier import (
    ClassifierBundle,
    load_bundle,
    save_bundle,
    train_classifier,
    training_rows,
)
from cf_agent.proposers import CFRequest


@dataclass(frozen=True)
class SmallWorld:
    data: Path
    spec_path: Path
    spec: FeatureSpec
    cohort: Cohort
    bundle: ClassifierBundle
    model_dir: Path
    train: pd.DataFrame

    def queries(self, n: int) -> list[Query]:
        return plan_queries(self.cohort, self.bundle, n)

    def requests(self, query: Query, k: int) -> list[CFRequest]:
        request = CFRequest(
            query_id=query.query_id,
            row=query.row,
            current_class=query.current_class,
            desired_class=self.spec.desired_class,
        )
        return [request] * k


_WORLDS: dict[Path, SmallWorld] = {}


def small_world(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    """The session's small world (built on first use)."""
    out = tmp_path_factory.getbasetemp() / "small-world"
    if out not in _WORLDS:
        files = write_demo(out, n=300, seed=3)
        spec = load_spec(files.spec)
        cohort = load_cohort(files.csv, spec)
        result = train_classifier(cohort, kind="logreg", seed=0)
        model_dir = save_bundle(result.bundle, result.split, out / "model")
        train = training_rows(cohort, model_dir)
        bundle = load_bundle(model_dir, spec)
        _WORLDS[out] = SmallWorld(files.csv, files.spec, spec, cohort, bundle, model_dir, train)
    return _WORLDS[out]


def assert_well_formed(world: SmallWorld, query: dict[str, Any], values: dict[str, Any]) -> None:
    """A full row of plain values that keeps every immutable feature."""
    assert list(values) == world.spec.feature_names
    for feature in world.spec.features:
        value = values[feature.name]
        if feature.kind == "categorical":
            assert isinstance(value, str) and value in (feature.categories or ())
        elif feature.kind == "int":
            assert type(value) is int
        else:
            assert type(value) is float
        if feature.actionability == "immutable":
            assert value == query[feature.name], feature.name
