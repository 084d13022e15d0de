"""Routing of the verifier loop with a scripted chat model and real verifiers."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import pytest
from scripted import ScriptedBackend, more_steps
from world import World

from cf_agent.agent.context import AgentContext
from cf_agent.agent.graph import build_graph
from cf_agent.agent.state import CFState, initial_state
from cf_agent.audit.store import AuditStore
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.prompts.render import load_prompt


def run_graph(
    world: World,
    backend: ScriptedBackend,
    tmp_path: Path,
    *,
    k: int = 1,
    max_rounds: int = 3,
    refine: bool = True,
    hints: bool = True,
) -> tuple[CFState, AuditStore, str]:
    audit = AuditStore(tmp_path / "audit.db")
    run_id = audit.start_run("test", backend.model_string, "zero_shot", "h", {})
    proposer = LLMProposer(backend, world.spec, load_prompt("zero_shot"), load_prompt("revise"))
    ctx = AgentContext(
        spec=world.spec,
        proposer=proposer,
        verifiers=world.verifiers,
        model=world.bundle,
        audit=audit,
        run_id=run_id,
        refine=refine,
        hints=hints,
    )
    state = initial_state("q1", world.query(), 1, world.spec.desired_class, k, max_rounds)
    result = build_graph().invoke(state, context=ctx)
    return result, audit, run_id


def test_valid_first_proposal_is_accepted_in_one_round(world: World, tmp_path: Path) -> None:
    result, audit, run_id = run_graph(world, ScriptedBackend([more_steps(3000)]), tmp_path)
    assert result["status"] == "accepted"
    assert result["round"] == 1 and result["llm_calls"] == 1
    cf = result["accepted"][0]
    assert cf["source"] == "scripted" and cf["provenance"] == {"steps": "llm"}
    assert [v["check"] for v in cf["verdicts"]] == ["classifier", "actionability", "plausibility"]
    types = [e.type for e in audit.events(run_id=run_id)]
    assert types == ["run_started", "proposal", "verdict", "accepted"]


def test_garbage_then_valid_revises_with_the_parse_error(world: World, tmp_path: Path) -> None:
    backend = ScriptedBackend(["I cannot give medical advice.", more_steps(3000)])
    result, _, _ = run_graph(world, backend, tmp_path)
    assert result["status"] == "accepted" and result["round"] == 2
    assert "no JSON object" in result["candidates"][0]["feedback"]
    revise_prompt = backend.prompts[1][-1]["content"]
    assert "no JSON object" in revise_prompt
    assert "Independent checks rejected it" in revise_prompt


def test_changed_immutable_is_fed_back_by_name(world: World, tmp_path: Path) -> None:
    def younger(person: dict[str, Any]) -> str:
        return json.dumps({"age": person["age"] - 10, "steps": person["steps"] + 3000})

    backend = ScriptedBackend([younger, more_steps(3000)])
    result, _, _ = run_graph(world, backend, tmp_path)
    first = result["candidates"][0]
    assert not first["passed"]
    age = world.query()["age"]
    assert f"age must stay {age}" in first["feedback"]
    assert f"age must stay {age}" in backend.prompts[1][-1]["content"]
    assert result["status"] == "accepted" and result["round"] == 2


def test_gives_up_after_max_rounds_without_refinement(world: World, tmp_path: Path) -> None:
    backend = ScriptedBackend([more_steps(100)])
    result, audit, run_id = run_graph(world, backend, tmp_path, max_rounds=3, refine=False)
    assert result["status"] == "gave_up"
    assert result["round"] == 3 and result["llm_calls"] == 3 and result["accepted"] == []
    assert audit.events(run_id=run_id)[-1].type == "gave_up"


@pytest.mark.parametrize("hints", [True, False])
def test_prompts_carry_sensitivity_hints_when_on(world: World, tmp_path: Path, hints: bool) -> None:
    backend = ScriptedBackend([more_steps(100)])
    run_graph(world, backend, tmp_path, max_rounds=2, refine=False, hints=hints)
    for prompt in backend.prompts:
        assert ("raise steps toward" in prompt[-1]["content"]) is hints


def test_refinement_walks_the_llm_direction_and_is_labelled(world: World, tmp_path: Path) -> None:
    backend = ScriptedBackend([more_steps(1000)])
    result, _, _ = run_graph(world, backend, tmp_path, max_rounds=2, refine=True)
    assert result["status"] == "accepted"
    cf = result["accepted"][0]
    assert cf["source"] == "refine" and cf["provenance"] == {"steps": "refine"}
    query = world.query()
    assert cf["values"]["steps"] > query["steps"] + 1000
    assert all(cf["values"][n] == query[n] for n in world.spec.feature_names if n != "steps")


def test_k_two_needs_two_different_counterfactuals(world: World, tmp_path: Path) -> None:
    backend = ScriptedBackend([more_steps(3000), more_steps(3000), more_steps(4000)])
    result, _, _ = run_graph(world, backend, tmp_path, k=2, max_rounds=3, refine=False)
    assert result["status"] == "accepted"
    steps = sorted(c["values"]["steps"] for c in result["accepted"])
    assert len(set(steps)) == 2
    duplicate = [c for c in result["candidates"] if c["error"] and "already accepted" in c["error"]]
    assert duplicate


@pytest.mark.parametrize("k", [1, 3])
def test_llm_calls_are_counted_per_proposal(world: World, tmp_path: Path, k: int) -> None:
    backend = ScriptedBackend([more_steps(100)])
    result, _, _ = run_graph(world, backend, tmp_path, k=k, max_rounds=2, refine=False)
    assert result["llm_calls"] == 2 * k == len(backend.prompts)


def test_run_context_is_read_only(world: World) -> None:
    """Nothing a query learns may go into the context: no checkpoint would keep it."""
    ctx = AgentContext(
        spec=world.spec,
        proposer=LLMProposer(
            ScriptedBackend([]), world.spec, load_prompt("zero_shot"), load_prompt("revise")
        ),
        verifiers=world.verifiers,
        model=world.bundle,
    )
    with pytest.raises(FrozenInstanceError):
        ctx.refine = False  # type: ignore[misc]
