"""A run stopped part-way and resumed asks the LLM exactly what an uninterrupted run asks.

The few-shot prompt shows verified CFs of the people finished earlier in the run, so the
prompts of the people after a resume depend on what the run remembers across the stop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scripted import ScriptedBackend
from world import World

from cf_agent.agent.runner import RunOptions, run_agent
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.prompts.render import load_prompts

REVISING = "Independent checks rejected it"
NO_EXEMPLARS = "(none yet)"


class Stopped(Exception):
    """The run's stop part-way (as a crash or a kill would stop it)."""


def walk(person: dict[str, Any]) -> str:
    """Enough more steps for some people, too few (rounds of revision, then none) for others."""
    raise_by = 3000 if person["steps"] % 2 else 100
    return json.dumps({"steps": person["steps"] + raise_by, "rationale": "walk more"})


def stop(person: dict[str, Any]) -> str:
    raise Stopped


def _run(world: World, model_dir: Path, out: Path, backend: ScriptedBackend) -> int:
    options = RunOptions(
        data=world.data,
        spec=world.spec_path,
        model_dir=model_dir,
        out=out,
        n=6,
        model="scripted",
        prompt="few_shot",
        refine=False,
    )
    proposer = LLMProposer(backend, world.spec, *load_prompts("few_shot"))
    return run_agent(options, proposer=proposer).resumed


def test_resumed_run_builds_the_uninterrupted_runs_prompts(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    whole = ScriptedBackend([walk])
    _run(world, model_dir, tmp_path / "whole" / "results.jsonl", whole)
    asked = [prompt[-1]["content"] for prompt in whole.prompts]
    # Stop at a revision (a person in flight, past a checkpoint) after which every new person
    # is shown exemplars: people who finished before the stop.
    stop_at = next(
        i
        for i, text in enumerate(asked)
        if REVISING in text and all(NO_EXEMPLARS not in later for later in asked[i:])
    )
    out = tmp_path / "stopped" / "results.jsonl"
    before = ScriptedBackend([walk] * stop_at + [stop])  # asked prompt `stop_at`, it stops
    with pytest.raises(Stopped):
        _run(world, model_dir, out, before)
    assert before.prompts[:stop_at] == whole.prompts[:stop_at]

    after = ScriptedBackend([walk])
    assert _run(world, model_dir, out, after) >= 1  # people taken from the stopped run
    assert after.prompts == whole.prompts[stop_at:]
    # The comparison means something: new people after the stop are shown earlier people's CFs.
    assert any("Verified changes" in p[-1]["content"] for p in after.prompts)
