"""Misbehaving models: a real loopback server answers garbage, stalls, throttles and fails.

Every case ends as a Proposal the agent can act on (values, or an error that becomes
feedback); nothing raises, retries are bounded, and a whole batch goes on past bad rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from misbehaving_server import (
    GARBAGE,
    Behaviour,
    misbehaving_server,
    stall,
    status,
    text,
    tool,
)
from world import World

from cf_agent.agent.runner import RunOptions, run_agent
from cf_agent.audit.store import AuditStore
from cf_agent.models.llm.openai_compat import OpenAIBackend
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.prompts.render import load_prompt
from cf_agent.proposers import CFRequest, Proposal

RETRIES = 2


def proposer_for(world: World, url: str, timeout_s: float = 1.0) -> LLMProposer:
    """One request at a time: the server answers its script in arrival order."""
    backend = OpenAIBackend(
        model="misbehave",
        base_url=url,
        timeout_s=timeout_s,
        max_retries=RETRIES,
        backoff_s=0.01,
        concurrency=1,
    )
    return LLMProposer(backend, world.spec, load_prompt("zero_shot"), load_prompt("revise"))


def propose_once(world: World, script: list[Behaviour]) -> tuple[Proposal, int]:
    with misbehaving_server(script, default=status(500)) as (url, server):
        query = world.query()
        request = CFRequest(query_id="q", row=query, current_class=1, desired_class=0)
        (proposal,) = proposer_for(world, url).propose([request])
        return proposal, server.requests


@pytest.mark.parametrize(
    ("script", "expected_error"),
    [
        ([text("{steps: lots")], "no JSON object"),
        ([text('{"steps": 9000, "sleep_total_min": ')], "no JSON object"),
        ([tool('{"steps": "nine thousand"}')], "steps must be a number"),
        ([text('{"steps": NaN}')], "steps must be a finite number"),
        ([text("I'm sorry, but I can't help with medical decisions.")], "no JSON object"),
        ([text("")], "empty"),
        ([tool('{"diabetes_stage": "cured"}')], "diabetes_stage must be one of"),
        ([GARBAGE, GARBAGE, GARBAGE], ""),
        ([stall(3.0)] * (RETRIES + 1), ""),
        ([status(500)] * (RETRIES + 1), "500"),
        ([status(400)], "400"),
    ],
    ids=["invalid-json", "partial-json", "text-number", "nan", "refusal", "empty",
         "unknown-category", "html-body", "timeout", "http-500", "http-400"],
)  # fmt: skip
def test_unusable_answers_become_errors_not_crashes(
    world: World, script: list[Behaviour], expected_error: str
) -> None:
    proposal, requests = propose_once(world, script)
    assert proposal.values is None
    assert proposal.error and expected_error in proposal.error
    assert requests <= RETRIES + 1


def test_extra_keys_are_ignored_and_reported(world: World) -> None:
    proposal, _ = propose_once(world, [tool('{"steps": 9000, "override_verdict": "valid"}')])
    assert proposal.values is not None and proposal.values["steps"] == 9000
    assert proposal.error and "unknown key" in proposal.error


def test_huge_values_reach_the_verifiers_and_fail_there(world: World) -> None:
    proposal, _ = propose_once(world, [tool('{"steps": 1e300}')])
    assert proposal.values is not None
    verdict = world.verifiers.actionability.check(world.query(), proposal.values)
    assert not verdict.passed and any(r.feature == "steps" for r in verdict.reasons)


def test_rate_limit_is_retried_then_succeeds(world: World) -> None:
    proposal, requests = propose_once(world, [status(429), tool('{"steps": 9000}')])
    assert proposal.error is None and proposal.values is not None
    assert requests == 2


def test_a_batch_goes_on_past_misbehaving_rows(
    world: World,
    model_dir: Path,
    tmp_path: Path,
) -> None:
    broken = [text("no"), status(500), status(500), status(500), GARBAGE, GARBAGE, GARBAGE]
    good = tool(json.dumps({"steps": 12500}))
    out = tmp_path / "results.jsonl"
    with misbehaving_server(broken, default=good) as (url, _):
        outcome = run_agent(
            RunOptions(
                data=world.data, spec=world.spec_path, model_dir=model_dir, out=out, n=4,
                model="openai:misbehave", max_rounds=2,
            ),
            proposer=proposer_for(world, url),
        )  # fmt: skip
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 4
    assert outcome.summary.success_rate > 0
    store = AuditStore(outcome.audit_db)
    errors = [
        e.payload["error"]
        for e in store.events(run_id=outcome.run_id, type="proposal")
        if e.payload["error"]
    ]
    assert any("500" in e for e in errors) and any("no JSON object" in e for e in errors)
    assert store.verify().ok
