"""`cf-agent augment` survives SIGKILL: killed 10 times at random points, then the same table.

A small study (600 demo people, logistic regression, two scenarios, two seeds, the search
method with its CF rows as they are and pulled, SMOTE and oversampling at 3 and 6 rows) run
uninterrupted is the reference. Then the command is killed KILLS times at random moments of
the work it had left (CF searches, fitting, journal writes, report writing), in children forked
from a server that has imported cf-agent (kill_trials.py); the last folder is finished by the
real `python -m cf_agent augment` command.
Every folder's results.csv, summary.csv and generated.csv equal the reference's byte for byte:
the CF searches and the classifiers are seeded per unit, so the kills change nothing. Every
journal holds each unit and CF chunk once, and no lock is left behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kill_trials import ENV, CliForkServer, kill_trials

from cf_agent.data.demo import write_demo

KILLS = 10
TABLES = ("results.csv", "summary.csv", "generated.csv")

pytestmark = pytest.mark.slow


def journal_keys(out: Path, name: str) -> list[str]:
    path = out / "journal" / name
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [json.loads(line)["query_id"] for line in lines]


def test_augment_killed_ten_times_resumes_to_the_same_table(tmp_path: Path) -> None:
    files = write_demo(tmp_path / "data", n=600, seed=0)

    def args(out: Path) -> list[str]:
        return [
            "augment", "--data", str(files.csv), "--spec", str(files.spec), "--out", str(out),
            "--classifier-kinds", "logreg", "--teacher-kind", "logreg", "--keep", "0.5,0.25",
            "--seeds", "2", "--methods", "search", "--resamplers", "smote,oversample",
            "--rows", "3,6",
        ]  # fmt: skip

    with CliForkServer(tmp_path / "children.log") as server:
        started = time.monotonic()
        server.start(args(tmp_path / "reference"))
        assert server.status() == 0, server.log.read_text()
        work_seconds = time.monotonic() - started
        folders = kill_trials(server, args, lambda i: tmp_path / f"killed{i}", KILLS, work_seconds)
    final = subprocess.run(
        [sys.executable, "-m", "cf_agent", *args(folders[-1])],
        env=ENV, capture_output=True, text=True,
    )  # fmt: skip
    assert final.returncode == 0, final.stderr

    for out in [*folders]:
        for table in TABLES:
            assert (out / table).read_bytes() == (tmp_path / "reference" / table).read_bytes()
        for journal in ("units.jsonl", "cfs.jsonl"):
            keys = journal_keys(out, journal)
            assert keys == sorted(set(keys), key=keys.index), f"{journal}: each key once"
    assert [p.name for p in tmp_path.glob(".lock.*")] == [], "finished runs left no lock"
    print(f"{work_seconds:.1f} s a run; {len(folders)} folders")
