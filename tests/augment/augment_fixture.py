"""A small demo cohort for augmentation tests: 600 people, its spec, and the fresh split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cf_agent.augment import AugmentOptions
from cf_agent.augment.scenarios import split_frames, stratified_split
from cf_agent.data.cohort import Cohort, load_cohort
from cf_agent.data.demo import write_demo
from cf_agent.data.spec import FeatureSpec, load_spec


@dataclass(frozen=True)
class DemoStudy:
    data: Path
    spec_path: Path
    spec: FeatureSpec
    cohort: Cohort
    train: pd.DataFrame
    test: pd.DataFrame

    def options(self, out: Path, **extra: Any) -> AugmentOptions:
        """Fast defaults: logistic regression only, two scenarios, two seeds, few rows."""
        fields: dict[str, Any] = {
            "data": self.data,
            "spec": self.spec_path,
            "out": out,
            "classifier_kinds": ("logreg",),
            "teacher_kind": "logreg",
            "keep": (0.5, 0.25),
            "seeds": 2,
            "methods": ("search",),
            "pull": (0.0, 0.5),
            "resamplers": ("smote", "oversample"),
            "rows": (3, 6),
        }
        return AugmentOptions.model_validate({**fields, **extra})


def demo_study(folder: Path) -> DemoStudy:
    files = write_demo(folder, n=600, seed=0)
    spec = load_spec(files.spec)
    cohort = load_cohort(files.csv, spec)
    train, test = split_frames(cohort, stratified_split(cohort, 0.25, 0))
    return DemoStudy(files.csv, files.spec, spec, cohort, train, test)
