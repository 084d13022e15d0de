"""A run's history rebuilt from a real audit log: rounds, verdicts, feedback, outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest
from review.review_world import (
    RUN_SCRIPTS,
    ReviewWorld,
    change,
    scripted_proposer,
    shared_world,
)

from cf_agent.agent.runner import RunOptions, run_agent
from cf_agent.audit.store import AuditStore
from cf_agent.data.cohort import load_cohort
from cf_agent.review.decisions import record_decision
from cf_agent.review.history import (
    factual_from_prompt,
    load_query_history,
    load_run_history,
    load_run_overviews,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ReviewWorld:
    return shared_world(tmp_path_factory)


def test_rounds_pair_proposals_with_verdicts_and_feedback(world: ReviewWorld) -> None:
    with AuditStore(world.db) as store:
        history = load_run_history(store, world.run_id)
    assert list(history.queries) == world.query_ids
    revised = history.queries["P00005"]
    first, second = revised.attempts[0].steps
    assert (first.round, first.passed, second.round, second.passed) == (1, False, 2, True)
    assert [v.check for v in first.verdicts] == ["classifier", "actionability", "plausibility"]
    assert "classifier still predicts" in first.feedback
    assert first.values is not None and first.values["active_minutes"] == 67
    assert revised.status == "accepted" and revised.outcome is not None
    assert revised.outcome.rounds == 2
    [cf] = revised.counterfactuals
    assert cf.values == second.values and all(v.passed for v in cf.verdicts)


def test_gave_up_and_unusable_answers(world: ReviewWorld) -> None:
    with AuditStore(world.db) as store:
        history = load_run_history(store, world.run_id)
    gave_up = history.queries["P00011"]
    assert gave_up.status == "gave_up" and gave_up.counterfactuals == []
    assert all("age must stay" in s.feedback for s in gave_up.attempts[0].steps)
    best = gave_up.best_failed_step()
    assert best is not None and best.values is not None and best.values["age"] == 59
    unusable = history.queries["P00014"].attempts[0].steps[0]
    assert unusable.values is None and unusable.passed is False
    assert unusable.error is not None and "no JSON object" in unusable.error
    assert unusable.raw_output == RUN_SCRIPTS[3][0]


def test_factual_row_from_the_prompt_matches_the_data_file(world: ReviewWorld) -> None:
    cohort = load_cohort(world.root / "demo" / "demo.csv", world.spec)
    with AuditStore(world.db) as store:
        query = load_query_history(store, world.run_id, "P00006")
    # JSON writes whole floats as integers; they still compare equal.
    assert query.factual_from_prompt == cohort.row("P00006")
    assert factual_from_prompt([{"role": "user", "content": "no person here"}]) is None
    assert factual_from_prompt("not a prompt") is None


def test_overview_and_review_state(world: ReviewWorld) -> None:
    db = world.copy_db()
    with AuditStore(db) as store:
        [overview] = load_run_overviews(store)
        assert overview.success_rate == pytest.approx(0.75) and overview.planned == 4
        assert overview.reviewed == 0
        cf = load_query_history(store, world.run_id, "P00006").counterfactuals[0]
        record_decision(store, world.run_id, "P00006", "accept", "ana", values=cf.values)
        record_decision(store, world.run_id, "P00006", "note", "ana", note="call her")
        record_decision(
            store, world.run_id, "P00006", "reject", "ben", values=cf.values, reason="too big"
        )
        query = load_query_history(store, world.run_id, "P00006")
        [overview] = load_run_overviews(store)
    assert [d.action for d in query.decisions] == ["accept", "note", "reject"]
    assert query.review_state == "rejected" and overview.reviewed == 1
    latest = query.review_of(cf.values)
    assert latest is not None and latest.reviewer == "ben" and latest.reason == "too big"


def test_refined_cf_gets_its_values_from_the_outcome(world: ReviewWorld, tmp_path: Path) -> None:
    options = RunOptions(
        data=world.root / "demo" / "demo.csv",
        spec=world.root / "demo" / "demo.toml",
        model_dir=world.root / "model",
        out=tmp_path / "results.jsonl",
        model="scripted",
        n=1,
        max_rounds=1,
        refine=True,
    )
    # +1,000 steps does not flip the classifier; refinement walks further along that direction.
    outcome = run_agent(options, proposer=scripted_proposer(world.spec, [[change(steps=1000)]]))
    with AuditStore(outcome.audit_db) as store:
        query = load_run_history(store, outcome.run_id).queries["P00005"]
    llm_step, refine_step = query.attempts[0].steps
    assert llm_step.passed is False and refine_step.source == "refine" and refine_step.passed
    [cf] = query.counterfactuals
    assert cf.source == "refine" and refine_step.values == cf.values
    assert cf.values["steps"] > 3991 + 1000 and [v.passed for v in cf.verdicts] == [True] * 3
