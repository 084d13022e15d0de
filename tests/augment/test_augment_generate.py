"""Source rows and baseline CF rows toward the minority class, with a real classifier and DiCE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from augment.augment_fixture import DemoStudy, demo_study

from cf_agent.augment.arms import fit_classifier
from cf_agent.augment.generate import (
    BatchTag,
    augmentation_spec,
    baseline_rows,
    pick_sources,
    wrap_scarce_model,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoStudy:
    return demo_study(tmp_path_factory.mktemp("demo"))


def test_sources_are_majority_rows_nearest_the_minority_class(demo: DemoStudy) -> None:
    spec = augmentation_spec(demo.spec, 1)
    bundle = wrap_scarce_model(fit_classifier(demo.spec, "logreg", 0, demo.train), spec)
    sources = pick_sources(spec, demo.train, bundle, 12)
    assert len(sources) == 12
    assert (sources["abnormal_glucose"] == 0).all()
    p_minority = bundle.predict_proba(sources)[:, 1]
    assert np.all(p_minority < 0.5)
    assert np.all(np.diff(p_minority) <= 0)
    majority = demo.train[demo.train["abnormal_glucose"] == 0]
    predicted_majority = majority[bundle.predict_proba(majority)[:, 1] < 0.5]
    assert p_minority[-1] >= np.sort(bundle.predict_proba(predicted_majority)[:, 1])[-12]


def test_dice_rows_are_verified_against_the_scarce_model(demo: DemoStudy) -> None:
    spec = augmentation_spec(demo.spec, 1)
    bundle = wrap_scarce_model(fit_classifier(demo.spec, "logreg", 0, demo.train), spec)
    sources = pick_sources(spec, demo.train, bundle, 3)
    tag = BatchTag(method="dice-random", scenario="keep100", keep=1.0, seed=0)
    rows = baseline_rows(
        tag, spec, bundle, demo.train, sources, time_limit_s=10.0, require_plausible=False
    )
    assert rows
    assert {r.source_id for r in rows} <= set(sources["person_id"])
    for row in rows:
        predicted = int(bundle.predict(pd.DataFrame([row.values]))[0])
        assert row.classifier_passed == (predicted == 1)
        source = sources.set_index("person_id").loc[row.source_id]
        for name in ("age", "sex", "diabetes_stage"):
            assert row.values[name] == source[name] or not row.actionability_passed
        assert row.used == (row.classifier_passed and row.actionability_passed)
