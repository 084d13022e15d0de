"""SIGTERM ends a command cleanly: exit 143, nothing half-written."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from world import World

from cf_agent.agent.queries import plan_queries

pytestmark = pytest.mark.slow


def run_file(world: World, path: Path) -> Path:
    queries = plan_queries(world.cohort, world.bundle, None)[:8]
    lines = [
        json.dumps(
            {
                "query_id": q.query_id,
                "counterfactuals": [
                    {"values": {**q.row, "steps": q.row["steps"] + 3000}, "source": "embedded"}
                ],
            }
        )
        for q in queries
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_sigterm_during_finetune_exits_143_and_leaves_no_temp_or_adapter_dir_but_its_work(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "adapter"
    args = [
        *("--data", world.data, "--spec", world.spec_path, "--classifier", model_dir),
        *("--out", out, "--sources", f"run:{run_file(world, tmp_path / 'results.jsonl')}"),
        *("--val-share", "0.3", "--compare-n", "0", "--top-layers", "1", "--rank", "4"),
        *("--batch-size", "1", "--max-steps", "100000"),
    ]
    child = subprocess.Popen(
        [sys.executable, "-m", "cf_agent", "finetune", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    work = tmp_path / ".adapter.resume"
    deadline = time.monotonic() + 240
    while not (work / "adapter").exists() and time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()[1]
        time.sleep(0.2)
    assert (work / "adapter").exists(), "training never started"
    time.sleep(2)  # inside training now

    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=60)

    assert child.returncode == 143, stderr
    assert "terminated (SIGTERM)" in stderr
    assert not out.exists()
    # The work folder stays for the rerun to resume; nothing in it is half-written.
    assert [p.name for p in tmp_path.glob(".adapter*")] == [work.name]
    assert [p.name for p in work.rglob("*") if p.name.endswith(".tmp")] == []
