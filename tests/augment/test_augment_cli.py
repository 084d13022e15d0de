"""`cf-agent augment` as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cf_agent.data.demo import write_demo


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cf_agent", "augment", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_augment_command_writes_the_study_and_refuses_bad_options(tmp_path: Path) -> None:
    files = write_demo(tmp_path / "data", n=400, seed=2)
    common = ("--data", files.csv, "--spec", files.spec, "--out", tmp_path / "study")
    done = cli(*common, "--methods", "", "--keep", "0.5", "--seeds", "1",
               "--classifier-kinds", "logreg", "--rows", "5,balance",
               "--resamplers", "smote,borderline-smote")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "borderline-smote" in done.stdout and "balance" in done.stdout
    assert (tmp_path / "study" / "report.md").is_file()
    assert (tmp_path / "study" / "figures" / "f1_by_rows_added.png").is_file()

    bad_keep = cli(*common, "--keep", "0.5,1.5", "--methods", "")
    assert bad_keep.returncode == 2 and "--keep" in bad_keep.stderr
    assert "keep fractions must lie between 0 and 1" in bad_keep.stderr

    bad_rows = cli(*common, "--rows", "0", "--methods", "")
    assert bad_rows.returncode == 2 and "--rows" in bad_rows.stderr

    bad_pull = cli(*common, "--pull", "0,2", "--methods", "")
    assert bad_pull.returncode == 2 and "--pull" in bad_pull.stderr
    assert "pull fractions must lie between 0 and 1" in bad_pull.stderr

    unknown = cli(*common, "--methods", "magic", "--overwrite")
    assert unknown.returncode == 10
    assert "unknown CF method 'magic'" in unknown.stderr
