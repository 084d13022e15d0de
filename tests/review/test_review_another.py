"""Another CF for one person: the graph runs again, logs to the run, avoids known CFs."""

from __future__ import annotations

import pytest
from review.review_world import ReviewWorld, change, scripted_proposer, shared_world

from cf_agent.audit.store import AuditStore
from cf_agent.review.another import another_counterfactual
from cf_agent.review.history import load_query_history
from cf_agent.review.materials import RunMaterials


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ReviewWorld:
    return shared_world(tmp_path_factory)


def test_a_gave_up_query_gets_a_cf(world: ReviewWorld) -> None:
    db = world.copy_db()
    with AuditStore(db) as store:
        run = store.run(world.run_id)
        query = load_query_history(store, world.run_id, "P00011")
    materials = RunMaterials(run, db.parent)
    factual, _ = materials.factual(query)
    seen: list[tuple[int, int, str]] = []
    state = another_counterfactual(
        materials,
        db,
        "P00011",
        factual,
        query.counterfactuals,
        scripted_proposer(world.spec, [[change(steps=3000)]]),
        progress=lambda done, total, text: seen.append((done, total, text)),
    )
    assert state["status"] == "accepted" and len(state["accepted"]) == 1
    assert seen[-1][0] == 1 and seen[-1][1] == 2 and seen[-1][2].startswith("finished: accepted")
    with AuditStore(db) as store:
        query = load_query_history(store, world.run_id, "P00011")
        assert store.verify().ok
    assert [a.outcome.status for a in query.attempts if a.outcome] == ["gave_up", "accepted"]
    assert query.status == "accepted"
    [cf] = query.counterfactuals
    assert cf.values["steps"] == factual["steps"] + 3000 and cf.values["age"] == factual["age"]


def test_known_cfs_are_avoided_and_refused(world: ReviewWorld) -> None:
    db = world.copy_db()
    with AuditStore(db) as store:
        run = store.run(world.run_id)
        query = load_query_history(store, world.run_id, "P00006")
    materials = RunMaterials(run, db.parent)
    factual, _ = materials.factual(query)
    known = query.counterfactuals
    # The run accepted steps +3,000; proposing it again is refused, the revision is new.
    proposer = scripted_proposer(world.spec, [[change(steps=3000), change(steps=3500)]])
    state = another_counterfactual(materials, db, "P00006", factual, known, proposer)
    first, second = state["candidates"]
    assert first["passed"] is False and "already accepted" in (first["error"] or "")
    assert second["passed"] is True
    with AuditStore(db) as store:
        query = load_query_history(store, world.run_id, "P00006")
    assert [cf.values["steps"] - factual["steps"] for cf in query.counterfactuals] == [3000, 3500]
    first_prompt = proposer.backend.prompts[0][-1]["content"]
    assert "Already accepted" in first_prompt and str(known[0].values["steps"]) in first_prompt
