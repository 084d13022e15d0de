"""Reviewer decisions: who is named, what is refused, what lands in the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from review.review_world import ReviewWorld, shared_world

from cf_agent.audit.store import AuditStore
from cf_agent.errors import CfAgentError
from cf_agent.review.decisions import record_decision, reviewer_name
from cf_agent.review.history import load_query_history


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ReviewWorld:
    return shared_world(tmp_path_factory)


def test_reviewer_name_precedence() -> None:
    env = {"CF_AGENT_REVIEWER": "dr ana", "USER": "ana", "LOGNAME": "a"}
    assert reviewer_name("ben", env) == "ben"
    assert reviewer_name(None, env) == "dr ana"
    assert reviewer_name(None, {"USER": "ana", "LOGNAME": "a"}) == "ana"
    assert reviewer_name("  ", {"LOGNAME": "a"}) == "a"
    with pytest.raises(CfAgentError, match="--reviewer"):
        reviewer_name(None, {})


def test_decision_payload_and_chain(world: ReviewWorld) -> None:
    with AuditStore(world.copy_db()) as store:
        cf = load_query_history(store, world.run_id, "P00005").counterfactuals[0]
        event = record_decision(
            store,
            world.run_id,
            "P00005",
            "accept",
            "ana",
            values=cf.values,
            verdicts=cf.verdicts,
            source=cf.source,
        )
        assert event.type == "review" and event.query_id == "P00005"
        assert event.payload["action"] == "accept" and event.payload["reviewer"] == "ana"
        assert event.payload["values"] == cf.values and event.payload["source"] == "scripted"
        assert [v["check"] for v in event.payload["verdicts"]] == [
            "classifier",
            "actionability",
            "plausibility",
        ]
        assert "reason" not in event.payload and store.verify().ok


@pytest.mark.parametrize(
    ("action", "fields", "message"),
    [
        ("reject", {"values": {"steps": 1}, "reason": "  "}, "needs a reason"),
        ("note", {"note": ""}, "needs some text"),
        ("accept", {}, "needs the CF"),
    ],
)
def test_incomplete_decisions_are_refused(
    world: ReviewWorld,
    action: str,
    fields: dict[str, Any],
    message: str,
) -> None:
    with AuditStore(world.copy_db()) as store:
        before = len(store.events())
        with pytest.raises(CfAgentError, match=message):
            record_decision(store, world.run_id, "P00005", action, "ana", **fields)  # type: ignore[arg-type]
        assert len(store.events()) == before
