"""`cf-agent eval` survives SIGKILL: 10 kills at random points, then the same outputs.

An uninterrupted evaluation (in this process) is the reference. Then the evaluation runs in a
child process on another folder and is killed 10 times, each at a random moment within the
reference's working time (forked from a server that has imported cf-agent, so the kills land
in baseline searches, judging, journal writes and report writing, not in Python's imports);
`cf-agent eval` itself then resumes the folder to its end.
Its rows.csv and metrics.csv equal the reference's bit for bit, wall-clock columns aside
(`seconds`, `median_seconds_per_cf`): the searches are seeded per person, so the order people
ran in and the kills between them change nothing. Every journal holds each person once.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from baselines.baseline_world import SmallWorld, small_world

from cf_agent.eval import EvalOptions, evaluate

TESTS = Path(__file__).resolve().parent.parent
KILLS = 10
PEOPLE = 4
METHODS = ("search", "dice-random")
CLOCK_COLUMNS = ["seconds"]

pytestmark = pytest.mark.slow


def options(world: SmallWorld, out: Path) -> EvalOptions:
    return EvalOptions(
        data=world.data, spec=world.spec_path, model_dir=world.model_dir, out=out,
        methods=METHODS, n=PEOPLE, k=1, time_limit_s=60.0,
    )  # fmt: skip


def command(world: SmallWorld, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "cf_agent", "eval", "--data", str(world.data),
        "--spec", str(world.spec_path), "--classifier", str(world.model_dir), "--out", str(out),
        "--methods", ",".join(METHODS), "--n", str(PEOPLE), "--k", "1", "--time-limit", "60",
    ]  # fmt: skip


def comparable(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = pd.read_csv(out / "rows.csv").drop(columns=CLOCK_COLUMNS)
    metrics = pd.read_csv(out / "metrics.csv")
    return rows, metrics[metrics["metric"] != "median_seconds_per_cf"].reset_index(drop=True)


def test_eval_killed_ten_times_resumes_to_the_same_outputs(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    world = small_world(tmp_path_factory)
    import cf_agent.models.baselines.dice  # noqa: F401 - the timing below is work, not imports

    started = time.monotonic()
    evaluate(options(world, tmp_path / "reference"))
    work_seconds = time.monotonic() - started
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])}
    options_file = tmp_path / "options.json"
    options_file.write_text(options(world, tmp_path / "unused").model_dump_json(), "utf-8")
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("eval_fork_server.py")), str(options_file)],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdin is not None and server.stdout is not None
    rng = random.Random(18)
    folders = [tmp_path / "killed0"]

    def start(out: Path) -> int:
        server.stdin.write(f"{out}\n")  # type: ignore[union-attr]
        server.stdin.flush()  # type: ignore[union-attr]
        return int(server.stdout.readline())  # type: ignore[union-attr]

    try:
        kills = 0
        while kills < KILLS:
            pid = start(folders[-1])
            time.sleep(rng.uniform(0.0, work_seconds))
            with contextlib.suppress(ProcessLookupError):  # it may have finished already
                os.kill(pid, signal.SIGKILL)
            status = int(server.stdout.readline())
            assert status in (0, signal.SIGKILL), f"the child failed (status {status})"
            kills += status == signal.SIGKILL
            if status == 0:  # it finished before its kill: go on killing in a new folder
                folders.append(tmp_path / f"killed{len(folders)}")
        for out in folders[1:]:  # resumed by the same call the CLI makes
            start(out)
            assert int(server.stdout.readline()) == 0
    finally:
        server.stdin.close()
        server.wait(timeout=60)
    # The most killed folder is resumed by the command itself.
    final = subprocess.run(command(world, folders[0]), env=env, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr

    reference_rows, reference_metrics = comparable(tmp_path / "reference")
    for out in folders:
        for method in METHODS:
            lines = (out / "journal" / f"{method}.jsonl").read_text(encoding="utf-8").splitlines()
            ids = [json.loads(line)["query_id"] for line in lines]
            assert len(ids) == PEOPLE == len(set(ids)), f"{method}: each person journalled once"
        rows, metrics = comparable(out)
        pd.testing.assert_frame_equal(rows, reference_rows)
        pd.testing.assert_frame_equal(metrics, reference_metrics)
    assert [p.name for p in tmp_path.glob(".lock.*")] == [], "finished runs left no lock"
    assert kills == KILLS
