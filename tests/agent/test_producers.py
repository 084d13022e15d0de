"""Who wrote each CF: the LLM alone, refinement from an LLM round, or the search from the
person's own row. A scripted model whose right answers are known (the world's classifier flips
at 8,000 steps) makes every label checkable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scripted import ScriptedBackend
from world import STEP_THRESHOLD, World

from cf_agent.agent.queries import plan_queries
from cf_agent.agent.runner import RunOptions, run_agent
from cf_agent.agent.state import CFSource, is_llm_source
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.prompts.render import hint_lines, load_prompt
from cf_agent.tools.sensitivity import probe_moves


def _steps_to(target: int) -> str:
    return json.dumps({"steps": target, "rationale": "walk a lot more"})


def test_refined_cf_names_the_llm_round_it_started_from(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    def too_small(person: dict[str, Any]) -> str:
        return _steps_to(person["steps"] + 100)

    outcome, records = _run(world, model_dir, tmp_path, too_small, n=1)
    cf = records[0]["counterfactuals"][0]
    assert cf["source"] == CFSource.REFINE and cf["start"] == "llm round 1"
    assert cf["provenance"] == {"steps": "refine"}
    # The rationale describes the refined change, not the LLM's words about its own values.
    assert cf["rationale"].startswith("Steps +") and "walk" not in cf["rationale"]
    assert outcome.summary.llm_only_success_rate == 0.0
    assert outcome.summary.refined_share == 1.0 and outcome.summary.search_share == 0.0


def test_search_from_the_persons_row_when_the_llm_gives_nothing(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    outcome, records = _run(world, model_dir, tmp_path, "I cannot help with that.", n=1)
    cf = records[0]["counterfactuals"][0]
    assert cf["source"] == CFSource.SEARCH and cf["start"] == "person"
    assert cf["values"]["steps"] >= STEP_THRESHOLD
    assert set(cf["provenance"].values()) == {"refine"}
    assert outcome.summary.search_share == 1.0 and outcome.summary.refined_share == 0.0
    assert records[0]["llm_valid"] == 0 and not is_llm_source(cf["source"])


def test_summary_counts_each_producer_apart(world: World, model_dir: Path, tmp_path: Path) -> None:
    people = [q.row["steps"] for q in plan_queries(world.cohort, world.bundle, 3)]

    def answer(person: dict[str, Any]) -> str:
        behaviour = people.index(person["steps"])
        if behaviour == 0:
            return _steps_to(STEP_THRESHOLD + 1500)  # right at once: the LLM's own CF
        if behaviour == 1:
            return _steps_to(person["steps"] + 100)  # too timid: refinement finishes it
        return "no"  # nothing usable: the search starts from the person's row

    outcome, records = _run(world, model_dir, tmp_path, answer, n=3)
    sources = [r["counterfactuals"][0]["source"] for r in records]
    assert sources == ["scripted", CFSource.REFINE, CFSource.SEARCH]
    starts = [r["counterfactuals"][0]["start"] for r in records]
    assert starts == ["llm", "llm round 1", "person"]
    summary = outcome.summary
    assert summary.success_rate == 1.0
    assert summary.llm_only_success_rate == summary.first_proposal_validity == 1 / 3
    assert summary.refined_share == summary.search_share == 1 / 3


def _run(
    world: World, model_dir: Path, tmp_path: Path, answer: Any, n: int
) -> tuple[Any, list[dict[str, Any]]]:
    out = tmp_path / "results.jsonl"
    options = RunOptions(
        data=world.data,
        spec=world.spec_path,
        model_dir=model_dir,
        out=out,
        n=n,
        model="scripted",
        max_rounds=2,
        refine=True,
    )
    backend = ScriptedBackend([answer])
    proposer = LLMProposer(backend, world.spec, load_prompt("zero_shot"), load_prompt("revise"))
    outcome = run_agent(options, proposer=proposer)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return outcome, records


def test_revise_round_probes_go_from_the_rejected_proposal(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    """The model continues its own change: round two's probes start where round one stopped."""
    [person] = plan_queries(world.cohort, world.bundle, 1)
    timid = {**person.row, "steps": person.row["steps"] + 1000}
    out = tmp_path / "results.jsonl"
    options = RunOptions(
        data=world.data,
        spec=world.spec_path,
        model_dir=model_dir,
        out=out,
        n=1,
        model="scripted",
        max_rounds=2,
        refine=False,
    )
    backend = ScriptedBackend([_steps_to(timid["steps"])])
    proposer = LLMProposer(backend, world.spec, load_prompt("zero_shot"), load_prompt("revise"))
    run_agent(options, proposer=proposer)
    assert len(backend.prompts) == 2
    revise_prompt = backend.prompts[1][-1]["content"]
    from_rejected = probe_moves(world.bundle, world.spec, person.row, top=4, start=timid)
    from_person = probe_moves(world.bundle, world.spec, person.row, top=4)
    assert from_rejected.p_now > from_person.p_now  # the rejected change already helped
    expected = hint_lines(world.spec, from_rejected)
    assert expected and all(line in revise_prompt for line in expected), revise_prompt
    assert json.loads(out.read_text(encoding="utf-8"))["counterfactuals"] == []  # LLM alone
