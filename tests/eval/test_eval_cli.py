"""`cf-agent eval` as a user runs it: a real process on the small world and its files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from baselines.baseline_world import SmallWorld, small_world
from rich.console import Console

from cf_agent.cli.tables import eval_table
from cf_agent.eval import evaluate
from cf_agent.eval.options import EvalOptions
from cf_agent.eval.report import format_mean


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


def test_a_long_method_name_leaves_every_figure_readable(small: SmallWorld, tmp_path: Path) -> None:
    """An `hf:<path>@<adapter>` method is longer than an 80-column terminal: its name folds and
    every figure of its row still prints."""
    options = EvalOptions(
        data=small.data,
        spec=small.spec_path,
        model_dir=small.model_dir,
        methods=("dice-random",),
        n=3,
        out=tmp_path,
    )
    outcome = evaluate(options)
    long = "hf:/root/.cache/cf-agent/models/smollm2-135m-instruct-e81ea9205682@/tmp/w/adapter5"
    outcome.summaries = [s.model_copy(update={"method": long}) for s in outcome.summaries]
    console = Console(width=80, record=True)
    console.print(eval_table(outcome, 1))
    text = console.export_text()
    [summary] = outcome.summaries
    for estimate in (summary.success, summary.validity, summary.plausibility, summary.l1_mad):
        assert format_mean(estimate) in text, text
    assert "adapter5" in text.replace("\n", "").replace("│", "").replace(" ", ""), text
