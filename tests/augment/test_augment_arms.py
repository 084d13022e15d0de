"""Arms on the small demo cohort with real sklearn models and imbalanced-learn samplers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from augment.augment_fixture import DemoStudy, demo_study

from cf_agent.augment.arms import (
    RESAMPLERS,
    class_gap,
    fit_classifier,
    pulled_toward_minority,
    resample,
    score_classifier,
    with_counterfactuals,
)
from cf_agent.augment.scenarios import Scenario, minority_class, scarce_training

LABEL = "abnormal_glucose"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoStudy:
    return demo_study(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def scenario(demo: DemoStudy) -> Scenario:
    return scarce_training(demo.train, LABEL, minority_class(demo.train[LABEL]), 0.25, seed=0)


def _new_rows(demo: DemoStudy, scenario: Scenario, augmented: pd.DataFrame) -> pd.DataFrame:
    assert augmented.iloc[: len(scenario.train)][LABEL].tolist() == scenario.train[LABEL].tolist()
    return augmented.iloc[len(scenario.train) :]


def test_smote_adds_exactly_n_minority_rows_in_the_cohort_domain(
    demo: DemoStudy, scenario: Scenario
) -> None:
    augmented = resample("smote", demo.spec, scenario.train, 1, 37, seed=0)
    new = _new_rows(demo, scenario, augmented)
    assert len(new) == 37 and (new[LABEL] == 1).all()
    for feature in demo.spec.features:
        column = new[feature.name]
        if feature.kind == "categorical":
            assert set(column) <= set(feature.categories or ())
        else:
            values = column.to_numpy(dtype=float)
            assert np.all(values >= feature.low) and np.all(values <= feature.high)
            if feature.kind == "int":
                assert np.all(values == np.round(values))
    # interpolations, not copies: most new rows are no existing minority row
    existing = set(map(tuple, scenario.train[demo.spec.feature_names].to_numpy().tolist()))
    copies = sum(tuple(r) in existing for r in new[demo.spec.feature_names].to_numpy().tolist())
    assert copies < len(new) / 2


def test_smote_takes_categories_from_minority_neighbours(
    demo: DemoStudy, scenario: Scenario
) -> None:
    minority_rows = scenario.train[scenario.train[LABEL] == 1]
    augmented = resample("smote", demo.spec, scenario.train, 1, 60, seed=1)
    new = _new_rows(demo, scenario, augmented)
    assert set(new["diabetes_stage"]) <= set(minority_rows["diabetes_stage"])


def test_oversampling_copies_minority_rows(demo: DemoStudy, scenario: Scenario) -> None:
    augmented = resample("oversample", demo.spec, scenario.train, 1, 25, seed=0)
    new = _new_rows(demo, scenario, augmented)
    assert len(new) == 25
    minority = scenario.train[scenario.train[LABEL] == 1][demo.spec.feature_names]
    existing = set(map(tuple, minority.astype(object).to_numpy().tolist()))
    assert all(
        tuple(r) in existing
        for r in new[demo.spec.feature_names].astype(object).to_numpy().tolist()
    )


def test_resampling_is_seeded(demo: DemoStudy, scenario: Scenario) -> None:
    first = resample("smote", demo.spec, scenario.train, 1, 10, seed=3)
    again = resample("smote", demo.spec, scenario.train, 1, 10, seed=3)
    other = resample("smote", demo.spec, scenario.train, 1, 10, seed=4)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_class_gap_is_what_balances_the_classes(scenario: Scenario) -> None:
    counts = scenario.train[LABEL].value_counts()
    assert class_gap(scenario.train, LABEL, 1) == counts[0] - counts[1]
    assert class_gap(scenario.train, LABEL, 0) == 0


@pytest.mark.parametrize("resampler", RESAMPLERS)
def test_every_resampler_adds_minority_rows_in_the_domain_and_never_a_test_row(
    demo: DemoStudy, scenario: Scenario, resampler: str
) -> None:
    augmented = resample(resampler, demo.spec, scenario.train, 1, 40, seed=0)  # type: ignore[arg-type]
    new = _new_rows(demo, scenario, augmented)
    assert 30 <= len(new) <= 40 if resampler == "adasyn" else len(new) == 40
    assert (new[LABEL] == 1).all()
    for feature in demo.spec.features:
        if feature.kind == "categorical":
            assert set(new[feature.name]) <= set(feature.categories or ())
        else:
            values = new[feature.name].to_numpy(dtype=float)
            assert np.all(values >= feature.low) and np.all(values <= feature.high)
    names = demo.spec.feature_names
    test_rows = set(map(tuple, demo.test[names].astype(object).to_numpy().tolist()))
    assert not test_rows & set(map(tuple, new[names].astype(object).to_numpy().tolist()))


def test_counterfactual_rows_are_labelled_minority(demo: DemoStudy, scenario: Scenario) -> None:
    cf_rows = scenario.train[scenario.train[LABEL] == 0].head(4)
    augmented = with_counterfactuals(demo.spec, scenario.train, cf_rows, 1)
    assert len(augmented) == len(scenario.train) + 4
    assert (augmented.iloc[-4:][LABEL] == 1).all()


def _pulled(
    demo: DemoStudy, scenario: Scenario, cf_rows: pd.DataFrame, pull: float
) -> pd.DataFrame:
    return pulled_toward_minority(demo.spec, scenario.train, cf_rows, 1, pull, seed=0)


def test_pulled_rows_move_toward_nearby_minority_rows_and_keep_their_categories(
    demo: DemoStudy, scenario: Scenario
) -> None:
    cf_rows = scenario.train[scenario.train[LABEL] == 0].head(30).reset_index(drop=True)
    pulled = _pulled(demo, scenario, cf_rows, 0.5)
    assert list(pulled.columns) == list(cf_rows.columns) and len(pulled) == 30
    floats = [f.name for f in demo.spec.features if f.kind == "float"]
    kept = [f.name for f in demo.spec.features if f.kind in ("categorical", "bool")]
    assert kept and pulled[kept].equals(cf_rows[kept])
    minority = scenario.train[scenario.train[LABEL] == 1][floats].to_numpy(dtype=float)
    start, moved = cf_rows[floats].to_numpy(dtype=float), pulled[floats].to_numpy(dtype=float)
    fractions = []
    for a, b in zip(start, moved, strict=True):
        # b = a + t (m - a) for a minority row m, 0 <= t <= 0.5: find m and t
        best = min(
            (np.linalg.norm(b - (a + t * (m - a))), t)
            for m in minority
            for t in [float(np.clip(np.dot(b - a, m - a) / max(np.dot(m - a, m - a), 1e-12), 0, 1))]
        )
        assert best[0] < 1e-6 and best[1] <= 0.5 + 1e-9
        fractions.append(best[1])
    assert np.mean(fractions) > 0.1  # the rows really moved
    for feature in demo.spec.features:
        if feature.kind == "int":
            assert pulled[feature.name].dtype == np.int64


def test_pulled_rows_are_seeded_prefix_stable_and_pull_zero_is_the_cf_rows(
    demo: DemoStudy, scenario: Scenario
) -> None:
    cf_rows = scenario.train[scenario.train[LABEL] == 0].head(20)
    pulled = _pulled(demo, scenario, cf_rows, 0.5)
    assert pulled.equals(_pulled(demo, scenario, cf_rows, 0.5))
    assert _pulled(demo, scenario, cf_rows.head(8), 0.5).equals(pulled.head(8))
    assert _pulled(demo, scenario, cf_rows, 0.0).equals(cf_rows.reset_index(drop=True))
    augmented = with_counterfactuals(demo.spec, scenario.train, pulled, 1)
    assert (augmented.iloc[len(scenario.train) :][LABEL] == 1).all()


def test_scores_of_a_real_classifier(demo: DemoStudy, scenario: Scenario) -> None:
    full = fit_classifier(demo.spec, "logreg", 0, demo.train)
    scarce = fit_classifier(demo.spec, "logreg", 0, scenario.train)
    full_scores = score_classifier(full, demo.spec, demo.test, 1)
    scarce_scores = score_classifier(scarce, demo.spec, demo.test, 1)
    for scores in (full_scores, scarce_scores):
        assert set(scores) == {"f1_minority", "roc_auc", "balanced_accuracy"}
        assert all(0.0 <= v <= 1.0 for v in scores.values())
    # the same seed and data give the same model
    again = score_classifier(
        fit_classifier(demo.spec, "logreg", 0, scenario.train), demo.spec, demo.test, 1
    )
    assert again == scarce_scores
    # with three in four minority labels gone, the minority class is found less often
    assert scarce_scores["f1_minority"] < full_scores["f1_minority"]
