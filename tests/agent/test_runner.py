"""`run_agent` end to end: outputs, audit log, refusal to clobber, and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from scripted import ScriptedBackend, more_steps
from world import World

from cf_agent.agent.runner import RunOptions, run_agent
from cf_agent.audit.store import AuditStore
from cf_agent.errors import OutputError
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.prompts.render import load_prompt

HERE = Path(__file__).parent


def options(world: World, model_dir: Path, out: Path, n: int = 5) -> RunOptions:
    return RunOptions(
        data=world.data, spec=world.spec_path, model_dir=model_dir, out=out, n=n, model="scripted"
    )


def proposer(world: World, answers: list) -> LLMProposer:  # type: ignore[type-arg]
    return LLMProposer(
        ScriptedBackend(answers), world.spec, load_prompt("zero_shot"), load_prompt("revise")
    )


def read_jsonl(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_run_writes_results_summary_and_audit(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    outcome = run_agent(
        options(world, model_dir, out), proposer=proposer(world, [more_steps(3000)])
    )
    records = read_jsonl(out)
    assert len(records) == 5 and len({r["query_id"] for r in records}) == 5
    assert all(r["status"] == "accepted" for r in records)
    assert all(cf["values"]["steps"] >= 8000 for r in records for cf in r["counterfactuals"])
    change = records[0]["counterfactuals"][0]["changes"]["steps"]
    assert change["delta"] == 3000 and change["text"].startswith("steps +3,000 steps/day")
    assert outcome.summary.success_rate == 1.0 and outcome.summary.returned_validity == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.db", "results.jsonl"]
    store = AuditStore(outcome.audit_db)
    types = [e.type for e in store.events(run_id=outcome.run_id)]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert types.count("accepted") == 5
    assert types.count("proposal") == sum(r["llm_calls"] for r in records)
    assert store.verify().ok


def test_csv_output_has_one_row_per_counterfactual(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results.csv"
    run_agent(options(world, model_dir, out, n=3), proposer=proposer(world, [more_steps(3000)]))
    frame = pd.read_csv(out)
    assert len(frame) == 3 and {"query_id", "changes", "cf_steps", "source"} <= set(frame.columns)


def test_existing_output_is_not_clobbered(world: World, model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    out.write_text("precious\n", encoding="utf-8")
    with pytest.raises(OutputError, match="already exists"):
        run_agent(options(world, model_dir, out), proposer=proposer(world, [more_steps(3000)]))
    assert out.read_text(encoding="utf-8") == "precious\n"


def test_killed_run_resumes_with_every_row_once(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    opts = options(world, model_dir, out, n=6)
    opts_file = tmp_path / "options.json"
    opts_file.write_text(opts.model_dump_json(), encoding="utf-8")
    journal = out.with_name(out.name + ".journal.jsonl")
    child = subprocess.Popen(
        [sys.executable, str(HERE / "run_scripted.py"), str(opts_file), "0.4"],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE.parent.parent)]),
        },
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert not out.exists(), "the final output must not appear before the batch ends"
    done_before = journal.read_bytes().count(b"\n")
    assert 2 <= done_before < 6

    outcome = run_agent(opts, proposer=proposer(world, ["not json", more_steps(3000)]))
    records = read_jsonl(out)
    assert sorted(r["query_id"] for r in records) == sorted({r["query_id"] for r in records})
    assert len(records) == 6 and outcome.resumed >= done_before
    store = AuditStore(outcome.audit_db)
    assert len(store.runs()) == 1
    events = store.events(run_id=outcome.run_id)
    assert [e.type for e in events].count("run_resumed") == 1
    finished = {e.query_id for e in events if e.type in ("accepted", "gave_up")}
    assert finished == {r["query_id"] for r in records}
    assert store.verify().ok
