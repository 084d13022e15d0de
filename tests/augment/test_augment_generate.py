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
    wrap_scarce_model,
)
from cf_agent.augment.sources import farthest_point_order, order_sources
from cf_agent.augment.teacher import FastPipeline


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoStudy:
    return demo_study(tmp_path_factory.mktemp("demo"))


def test_sources_are_majority_rows_nearest_the_minority_class(demo: DemoStudy) -> None:
    spec = augmentation_spec(demo.spec, 1)
    bundle = wrap_scarce_model(fit_classifier(demo.spec, "logreg", 0, demo.train), spec)
    ordered = order_sources(spec, demo.train, bundle, "boundary", seed=0)
    sources = ordered.head(12)
    assert len(sources) == 12
    assert (sources["abnormal_glucose"] == 0).all()
    p_minority = bundle.predict_proba(sources)[:, 1]
    assert np.all(p_minority < 0.5)
    assert np.all(np.diff(p_minority) <= 0)
    majority = demo.train[demo.train["abnormal_glucose"] == 0]
    predicted_majority = majority[bundle.predict_proba(majority)[:, 1] < 0.5]
    assert p_minority[-1] >= np.sort(bundle.predict_proba(predicted_majority)[:, 1])[-12]
    assert len(ordered) == len(predicted_majority)


def test_spread_and_diverse_orders_cover_the_same_rows_differently(demo: DemoStudy) -> None:
    spec = augmentation_spec(demo.spec, 1)
    bundle = wrap_scarce_model(fit_classifier(demo.spec, "logreg", 0, demo.train), spec)
    orders = {
        o: order_sources(spec, demo.train, bundle, o, seed=0)
        for o in ("boundary", "spread", "diverse")
    }  # type: ignore[arg-type]
    ids = {o: list(f["person_id"]) for o, f in orders.items()}
    assert sorted(ids["spread"]) == sorted(ids["boundary"]) == sorted(ids["diverse"])
    assert ids["spread"] != ids["boundary"] and ids["diverse"] != ids["boundary"]
    assert ids["diverse"][0] == ids["boundary"][0]
    assert ids["spread"] == list(order_sources(spec, demo.train, bundle, "spread", 0)["person_id"])


def test_farthest_point_order_takes_the_farthest_row_next() -> None:
    points = np.array([[0.0], [1.0], [10.0], [5.0]])
    assert farthest_point_order(points, 0).tolist() == [0, 2, 3, 1]


def test_dice_rows_are_verified_against_the_scarce_model(demo: DemoStudy) -> None:
    spec = augmentation_spec(demo.spec, 1)
    bundle = wrap_scarce_model(fit_classifier(demo.spec, "logreg", 0, demo.train), spec)
    sources = order_sources(spec, demo.train, bundle, "boundary", seed=0).head(3)
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


def test_search_rows_clear_the_margin_the_study_asks_for(demo: DemoStudy) -> None:
    spec = augmentation_spec(demo.spec, 1)
    bundle = wrap_scarce_model(fit_classifier(demo.spec, "logreg", 0, demo.train), spec)
    sources = order_sources(spec, demo.train, bundle, "spread", seed=0).head(6)
    tag = BatchTag(method="search", scenario="keep100", keep=1.0, seed=0)
    rows = baseline_rows(
        tag, spec, bundle, demo.train, sources, time_limit_s=10.0, require_plausible=False,
        margin=0.4,
    )  # fmt: skip
    used = [r for r in rows if r.used]
    assert used
    p_minority = bundle.predict_proba(pd.DataFrame([r.values for r in used]))[:, 1]
    assert np.all(p_minority - (1 - p_minority) >= 0.4 - 1e-9)


@pytest.mark.parametrize("kind", ["gbm", "logreg", "rf", "mlp"])
def test_the_fast_teacher_gives_the_pipelines_probabilities(demo: DemoStudy, kind: str) -> None:
    pipeline = fit_classifier(demo.spec, kind, 0, demo.train.head(200))  # type: ignore[arg-type]
    fast = FastPipeline(pipeline, demo.spec)
    test = demo.test[demo.spec.feature_names]
    np.testing.assert_allclose(fast.predict_proba(test), pipeline.predict_proba(test))
    assert list(fast.classes_) == list(pipeline.classes_)
