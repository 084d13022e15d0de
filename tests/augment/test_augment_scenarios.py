"""Scenario construction: the test split untouched, kept fractions exact, seeds reproducible."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from augment.augment_fixture import DemoStudy, demo_study

from cf_agent.augment.generate import augmentation_spec
from cf_agent.augment.scenarios import (
    kept_count,
    minority_class,
    scarce_training,
    split_frames,
    stratified_split,
)
from cf_agent.errors import DataError
from cf_agent.models.classifier import load_split, save_bundle, train_classifier


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoStudy:
    return demo_study(tmp_path_factory.mktemp("demo"))


def _ids(frame: pd.DataFrame) -> set[str]:
    return set(frame["person_id"].astype(str))


def test_fresh_split_is_the_one_cf_agent_train_draws(demo: DemoStudy, tmp_path: Path) -> None:
    trained = train_classifier(demo.cohort, kind="logreg", test_size=0.25, seed=3)
    pd.testing.assert_frame_equal(stratified_split(demo.cohort, 0.25, 3), trained.split)
    save_bundle(trained.bundle, trained.split, tmp_path)
    train, test = split_frames(demo.cohort, load_split(tmp_path))
    saved = trained.split.set_index("person_id")["split"]
    assert (saved[train["person_id"]] == "train").all()
    assert (saved[test["person_id"]] == "test").all()
    assert len(train) + len(test) == len(demo.cohort)


def test_a_split_missing_people_is_refused(demo: DemoStudy) -> None:
    split = stratified_split(demo.cohort, 0.25, 0).iloc[5:]
    with pytest.raises(DataError, match="not in the classifier's split"):
        split_frames(demo.cohort, split)


@pytest.mark.parametrize("keep", [0.5, 0.25, 0.1, 0.333])
def test_kept_fraction_is_exact_and_only_minority_rows_go(demo: DemoStudy, keep: float) -> None:
    minority = minority_class(demo.train["abnormal_glucose"])
    n_minority = int((demo.train["abnormal_glucose"] == minority).sum())
    scenario = scarce_training(demo.train, "abnormal_glucose", minority, keep, seed=0)
    kept = scenario.train[scenario.train["abnormal_glucose"] == minority]
    assert len(kept) == round(keep * n_minority) == kept_count(keep, n_minority)
    assert scenario.removed == n_minority - len(kept)
    majority = demo.train[demo.train["abnormal_glucose"] != minority]
    assert _ids(majority) <= _ids(scenario.train)
    assert _ids(scenario.train) <= _ids(demo.train)
    assert not _ids(scenario.train) & _ids(demo.test)
    # rows are taken whole, in file order
    pd.testing.assert_frame_equal(scenario.train, demo.train.loc[scenario.train.index])


def test_test_split_is_never_touched(demo: DemoStudy) -> None:
    before = demo.test.copy()
    minority = minority_class(demo.train["abnormal_glucose"])
    for keep in (0.5, 0.1):
        scarce_training(demo.train, "abnormal_glucose", minority, keep, seed=1)
    pd.testing.assert_frame_equal(demo.test, before)


def test_seeds_reproduce_and_differ_and_scenarios_nest(demo: DemoStudy) -> None:
    minority = minority_class(demo.train["abnormal_glucose"])

    def kept(keep: float, seed: int) -> set[str]:
        frame = scarce_training(demo.train, "abnormal_glucose", minority, keep, seed).train
        return _ids(frame[frame["abnormal_glucose"] == minority])

    assert kept(0.25, 4) == kept(0.25, 4)
    assert kept(0.25, 4) != kept(0.25, 5)
    assert kept(0.1, 4) <= kept(0.25, 4) <= kept(0.5, 4)


def test_too_few_kept_rows_are_refused(demo: DemoStudy) -> None:
    with pytest.raises(DataError, match="fewer than 2"):
        scarce_training(demo.train, "abnormal_glucose", 1, 0.001, seed=0)


def test_augmentation_spec_aims_at_the_minority_and_keeps_immutables(demo: DemoStudy) -> None:
    derived = augmentation_spec(demo.spec, minority=1)
    assert derived.desired_class == 1
    for before, after in zip(demo.spec.features, derived.features, strict=True):
        if before.actionability in ("increase_only", "decrease_only"):
            assert after.actionability == "free"
        else:
            assert after.actionability == before.actionability
        assert (after.low, after.high, after.max_change) == (
            before.low,
            before.high,
            before.max_change,
        )
    assert derived.feature("bmi").actionability == "free"
    assert derived.feature("age").actionability == "immutable"
    assert derived.rules == demo.spec.rules
