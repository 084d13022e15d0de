"""Crash safety: SIGKILL a batch at random points, resume, and find every row exactly once.

20 kills with a fast scripted backend (the unit of work is one query: proposal, verdicts,
journal line, audit events). After each batch is resumed to the end, its output holds every
planned query once, the audit log holds one outcome per query, and its hash chain verifies.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from scripted import ScriptedBackend, more_steps
from world import World

from cf_agent.agent.runner import RunOptions, run_agent
from cf_agent.audit.store import AuditStore
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.prompts.render import load_prompt

TESTS = Path(__file__).resolve().parent.parent
TRIALS = 20
ROWS = 12

pytestmark = pytest.mark.slow


def start_child(options_file: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(TESTS / "agent" / "run_scripted.py"), str(options_file), "0.05"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def finish(world: World, options: RunOptions) -> None:
    backend = ScriptedBackend(["not json", more_steps(3000)])
    proposer = LLMProposer(backend, world.spec, load_prompt("zero_shot"), load_prompt("revise"))
    run_agent(options, proposer=proposer)


def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    rng = random.Random(7)
    batches: list[RunOptions] = []
    kills = 0
    while kills < TRIALS:
        if not batches or batches[-1].out.exists():
            out = tmp_path / f"batch{len(batches)}" / "results.jsonl"
            out.parent.mkdir()
            batches.append(
                RunOptions(
                    data=world.data, spec=world.spec_path, model_dir=model_dir, out=out, n=ROWS,
                    model="scripted", max_rounds=2,
                )
            )  # fmt: skip
        options = batches[-1]
        options_file = options.out.parent / "options.json"
        options_file.write_text(options.model_dump_json(), encoding="utf-8")
        child = start_child(options_file)
        deadline = time.monotonic() + rng.uniform(1.0, 4.0)
        while time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.02)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait(timeout=30)

    for options in batches:
        state = [p for p in options.out.parent.iterdir() if p.name.startswith("results.jsonl.")]
        if not options.out.exists() or state:
            finish(world, options)
        records = [json.loads(x) for x in options.out.read_text(encoding="utf-8").splitlines()]
        ids = [r["query_id"] for r in records]
        assert len(ids) == ROWS and len(set(ids)) == ROWS
        leftovers = [p.name for p in options.out.parent.iterdir() if "results.jsonl." in p.name]
        assert leftovers == []
        store = AuditStore(options.out.parent / "audit.db")
        (run,) = store.runs()
        outcomes = Counter(
            e.query_id for e in store.events(run_id=run.run_id) if e.type in ("accepted", "gave_up")
        )
        assert outcomes == Counter(ids), "one outcome event per query"
        assert store.verify().ok
        store.close()
    assert kills == TRIALS
