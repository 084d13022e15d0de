"""The `cf-agent` command as a user runs it: real processes, real files, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cf_agent", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    demo = cli("data", "demo", "--n", "400", "--seed", "3", "--out", root / "data")
    assert demo.returncode == 0, demo.stderr
    assert "wrote 400 people" in demo.stdout
    train = cli(
        "train",
        "--data", root / "data/demo.csv",
        "--spec", root / "data/demo.toml",
        "--kind", "logreg",
        "--out", root / "model",
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    assert "roc auc" in train.stdout
    return root


def test_demo_and_train_write_their_files(trained: Path) -> None:
    assert {p.name for p in (trained / "data").iterdir()} == {
        "demo.csv",
        "demo.toml",
        "demo-stress.toml",
    }
    assert {"model.joblib", "metadata.json", "split.csv"} <= {
        p.name for p in (trained / "model").iterdir()
    }


def run_args(root: Path, *extra: str | Path) -> list[str | Path]:
    return [
        "run",
        "--data", root / "data/demo.csv",
        "--spec", root / "data/demo.toml",
        "--classifier", root / "model",
        *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["train", "--data", "{root}/data/demo.csv", "--spec", "{root}/nope.toml", "--out",
          "{root}/m2"], 3, "spec file not found"),
        (["train", "--data", "{root}/nope.csv", "--spec", "{root}/data/demo.toml", "--out",
          "{root}/m2"], 4, "not found"),
        (["train", "--data", "{root}/data/demo.csv", "--spec", "{root}/data/demo-stress.toml",
          "--kind", "xgboost", "--out", "{root}/m2"], 1, "unknown classifier kind"),
        (["run", "--data", "{root}/data/demo.csv", "--spec", "{root}/data/demo-stress.toml",
          "--classifier", "{root}/model", "--out", "{root}/r.jsonl"], 5, "spec"),
        (["run", "--data", "{root}/data/demo.csv", "--spec", "{root}/data/demo.toml",
          "--classifier", "{root}/model", "--model", "gpt-5", "--out", "{root}/r.jsonl"],
         10, "unknown model string 'gpt-5'"),
        (["run", "--data", "{root}/data/demo.csv", "--spec", "{root}/data/demo.toml",
          "--classifier", "{root}/model", "--out", "{root}/r.xlsx"], 6, "output format"),
        (["run", "--data", "{root}/data/demo.csv", "--spec", "{root}/data/demo.toml",
          "--classifier", "{root}/model", "--margin", "1.0", "--out", "{root}/r.jsonl"],
         2, "--margin: Input should be less than 1"),
        (["run", "--data", "{root}/data/demo.csv", "--spec", "{root}/data/demo.toml",
          "--classifier", "{root}/model", "--k", "0", "--out", "{root}/r.jsonl"], 2, "--k:"),
        (["audit", "verify", "--db", "{root}/none.db"], 8, "audit log not found"),
        (["data", "demo", "--n", "10", "--out", "{root}/small"], 4, "50"),
    ],
)  # fmt: skip
def test_bad_input_exits_with_its_code_and_a_fix(
    trained: Path, args: list[str], code: int, message: str
) -> None:
    result = cli(*(a.format(root=trained) for a in args))
    assert result.returncode == code, result.stderr
    assert "error:" in result.stderr and message in result.stderr
    assert "fix:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (trained / "r.jsonl").exists() and not (trained / "m2").exists()


def test_error_text_with_brackets_is_printed_verbatim(trained: Path) -> None:
    """Rich markup must not eat `[@<peft adapter path>]` in the list of model forms."""
    result = cli(*run_args(trained, "--model", "nonsense", "--out", trained / "x.jsonl"))
    assert result.returncode == 10
    assert "hf:<model id or path>[@<peft adapter path>]" in result.stderr


def test_run_in_a_log_is_quiet_and_says_how_far_it_is(trained: Path) -> None:
    """Output to a file (a batch job): the plan at once, progress lines, no library noise."""
    out = trained / "search.csv"
    result = cli(*run_args(trained, "--model", "search", "--n", "2", "--out", out))
    assert result.returncode == 0, result.stderr
    assert "explaining 2 people with search" in result.stderr
    assert "people: 2/2 (100%)" in result.stderr and "left" in result.stderr
    assert "Warning" not in result.stderr and "%|" not in result.stderr
    assert "plausibility score of returned CFs, mean (a CF passes at >= 0.01)" in result.stdout
    assert out.exists()
