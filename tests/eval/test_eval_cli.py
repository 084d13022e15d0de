"""`cf-agent eval` as a user runs it: a real process on the small world and its files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from baselines.baseline_world import SmallWorld, small_world


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cf_agent", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    return small_world(tmp_path_factory)


def test_eval_prints_the_table_and_writes_the_report(small: SmallWorld, tmp_path: Path) -> None:
    common = ("--data", small.data, "--spec", small.spec_path, "--classifier", small.model_dir)
    done = cli("eval", *common, "--methods", "nice,dice-random", "--n", "3", "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "means over 3 people" in done.stdout and "dice-random" in done.stdout
    for name in ("report.md", "report.html", "rows.csv", "metrics.csv"):
        assert (tmp_path / name).is_file()
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "`cf-agent eval --data" in report and "--methods nice,dice-random" in report
