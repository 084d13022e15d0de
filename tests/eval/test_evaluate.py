"""`evaluate` end to end: the same people for every method, the table's numbers, resume, refusal.

The arithmetic test explains a depth-1 tree on steps (abnormal = steps below its split) with a
fixed proposer: slot 0 adds 5,000 steps, slot 1 also adds a year of age (an immutable). So
validity, distances, violations, redundancy and diversity are known by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from baselines.baseline_world import SmallWorld, small_world
from scripted import ScriptedBackend, more_steps
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier

from cf_agent.agent.queries import Query, plan_queries
from cf_agent.errors import OutputError
from cf_agent.eval import EvalOptions, evaluate
from cf_agent.models.baselines import UnknownMethodError
from cf_agent.models.classifier import load_split, save_bundle, wrap_estimator
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.prompts.render import load_prompt
from cf_agent.proposers import CFRequest, Proposal


class FixedProposer:
    """Slot 0: steps + 5,000. Slot 1: the same and age + 1."""

    name = "fixed"
    is_llm = False

    def propose(self, requests: Sequence[CFRequest]) -> list[Proposal]:
        out = []
        for i, request in enumerate(requests):
            values = {**request.row, "steps": request.row["steps"] + 5000}
            if i % 2:
                values["age"] = request.row["age"] + 1
            out.append(Proposal(values=values, source=self.name))
        return out


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    return small_world(tmp_path_factory)


@dataclass(frozen=True)
class StepsTree:
    model_dir: Path
    threshold: float  # the split: steps above it is predicted normal (the desired class)
    queries: list[Query]  # the people it predicts abnormal, as `evaluate` plans them


@pytest.fixture(scope="module")
def tree(small: SmallWorld, tmp_path_factory: pytest.TempPathFactory) -> StepsTree:
    features = small.cohort.features
    labels = (features["steps"] < 8000).astype(int)
    stump = DecisionTreeClassifier(max_depth=1, random_state=0)
    pipeline = make_pipeline(ColumnTransformer([("steps", "passthrough", ["steps"])]), stump)
    pipeline.fit(features, labels)
    bundle = wrap_estimator(pipeline, small.spec, data_hash=small.cohort.data_hash)
    model_dir = save_bundle(bundle, load_split(small.model_dir), tmp_path_factory.mktemp("tree"))
    queries = plan_queries(small.cohort, bundle, 6)
    return StepsTree(model_dir, float(stump.tree_.threshold[0]), queries)


def options(small: SmallWorld, model_dir: Path, out: Path, **extra: object) -> EvalOptions:
    fields: dict[str, object] = {
        "data": small.data,
        "spec": small.spec_path,
        "model_dir": model_dir,
        "out": out,
        "methods": ("fixed",),
        "n": 6,
        "k": 2,
    }
    return EvalOptions.model_validate({**fields, **extra})


def mad(values: pd.Series) -> float:
    return float(np.median(np.abs(values - np.median(values))))


def test_table_numbers_follow_from_the_fixed_cfs(
    small: SmallWorld, tree: StepsTree, tmp_path: Path
) -> None:
    outcome = evaluate(
        options(small, tree.model_dir, tmp_path), proposers={"fixed": FixedProposer()}
    )
    (s,) = outcome.summaries
    queries = tree.queries
    valid = [q.row["steps"] + 5000 > tree.threshold for q in queries]
    assert (s.queries, s.requested, s.returned) == (6, 12, 12)
    assert s.validity.mean == pytest.approx(np.mean(valid))  # both slots flip alike
    assert s.valid_success.mean == pytest.approx(np.mean(valid))
    assert s.success.mean is not None and s.success.mean <= np.mean(valid)
    assert s.sparsity.mean == pytest.approx(1.5)
    assert s.immutable_violations.mean == pytest.approx(0.5)
    assert s.actionability_violations.mean == 0.0  # 5,000 steps is exactly max_change
    train = small.train
    mad_steps, mad_age = mad(train["steps"]), mad(train["age"])
    assert s.l1_mad.mean == pytest.approx(5000 / mad_steps + 0.5 / mad_age)
    l2_slot1 = math.sqrt((5000 / 40000) ** 2 + (1 / 50) ** 2)
    assert s.l2_range.mean == pytest.approx((0.125 + l2_slot1) / 2)
    assert s.diversity.mean == pytest.approx(1 / mad_age)  # the two CFs differ in age only
    if any(valid):
        assert s.redundancy.mean == pytest.approx(0.5)  # the age change is never needed
    assert s.llm_calls.mean == 0.0 and not s.is_llm
    (uses,) = outcome.interventions
    assert [(f.feature, f.share, f.typical) for f in uses.features] == [
        ("steps", 1.0, "+5,000 steps/day"),
        ("age", 0.5, "+1 years"),
    ]
    assert uses.immutable_share == pytest.approx(1 / 3)
    rows = pd.read_csv(outcome.files.rows_csv)
    assert len(rows) == 12 and list(rows["query_id"].astype(str).unique()) == [
        q.query_id for q in queries
    ]
    assert (rows["cf_steps"] == rows["query_steps"] + 5000).all()


def test_dice_random_runs_resumes_and_refuses_other_options(
    small: SmallWorld, tmp_path: Path
) -> None:
    opts = options(small, small.model_dir, tmp_path, methods=("dice-random",), n=4)
    first = evaluate(opts)
    (s,) = first.summaries
    assert s.method == "dice-random" and s.queries == 4 and s.returned > 0
    assert s.immutable_violations.mean == 0.0  # DiCE never varies what it is told to keep
    assert s.validity.mean is not None and s.validity.mean > 0
    assert first.resumed == 0
    metrics = first.files.metrics_csv.read_text(encoding="utf-8")

    again = evaluate(opts)
    assert again.resumed == 4
    assert again.files.metrics_csv.read_text(encoding="utf-8") == metrics

    with pytest.raises(OutputError, match="other options"):
        evaluate(options(small, small.model_dir, tmp_path, methods=("dice-random",), n=4, k=1))
    fresh = evaluate(
        options(
            small, small.model_dir, tmp_path, methods=("dice-random",), n=4, k=1, overwrite=True
        )
    )
    assert fresh.resumed == 0 and fresh.summaries[0].requested == 4


def test_llm_methods_run_through_the_agent_and_are_judged_alike(
    small: SmallWorld, tree: StepsTree, tmp_path: Path
) -> None:
    proposer = LLMProposer(
        ScriptedBackend([more_steps(5000)]),
        small.spec,
        load_prompt("zero_shot"),
        load_prompt("revise"),
    )
    opts = options(
        small, tree.model_dir, tmp_path, methods=("scripted",), n=3, k=1, max_rounds=1, refine=False
    )
    outcome = evaluate(opts, proposers={"scripted": proposer})
    (s,) = outcome.summaries
    assert s.is_llm and s.queries == 3 and s.llm_calls.mean == 1.0 and s.returned >= 1
    assert (tmp_path / "runs" / "scripted.jsonl").is_file()
    rows = pd.read_csv(outcome.files.rows_csv)
    for _, row in rows.iterrows():
        if row["returned"]:
            assert row["verified"] and row["cf_steps"] == row["query_steps"] + 5000
        else:
            assert row["error"].startswith("the agent found 0 of 1 verified CFs in 1 rounds")


def test_baselines_learn_from_the_training_rows_in_id_order_whatever_the_file_order(
    small: SmallWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[pd.DataFrame] = []

    def capture(
        method: str, spec: object, bundle: object, train: pd.DataFrame, **_: object
    ) -> FixedProposer:
        seen.append(train)
        return FixedProposer()

    monkeypatch.setattr(import_module("cf_agent.eval.evaluate"), "load_baseline", capture)
    shuffled = tmp_path / "shuffled.csv"
    pd.read_csv(small.data).sample(frac=1.0, random_state=0).to_csv(shuffled, index=False)
    for data, out in ((small.data, "as-is"), (shuffled, "shuffled")):
        opts = options(small, small.model_dir, tmp_path / out, methods=("dice-random",), n=2)
        evaluate(opts.model_copy(update={"data": data}))
    as_is, reordered = seen
    assert as_is["person_id"].is_monotonic_increasing
    pd.testing.assert_frame_equal(as_is, reordered)
    pd.testing.assert_frame_equal(as_is, small.train)


def test_unknown_methods_are_refused_before_anything_runs(
    small: SmallWorld, tmp_path: Path
) -> None:
    with pytest.raises(UnknownMethodError, match="unknown CF method 'dice'"):
        evaluate(options(small, small.model_dir, tmp_path / "out", methods=("dice",)))
    assert not (tmp_path / "out").exists()
