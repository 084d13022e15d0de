"""Two processes on one output: a second `run`, `eval`, `augment` or `finetune` is refused.

`run` is held by a real child process (a slow scripted batch); a second `cf-agent run` on the
same output, or on another output with the same audit log, exits 6 naming the holder, and the
child finishes with every row once. For `eval`, `augment` and `finetune` this test process
holds the lock (flock conflicts between open files, in one process as across two) and the
command is refused before it writes anything. A lock left by a killed process is taken over:
the kernel dropped it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from world import World

from cf_agent.agent.runner import RunOptions
from cf_agent.augment import AugmentOptions, run_study
from cf_agent.cli import main
from cf_agent.eval import EvalOptions, evaluate
from cf_agent.locks import OutputBusyError, exclusive, lock_path

TESTS = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])}


def slow_run(world: World, model_dir: Path, out: Path) -> subprocess.Popen[bytes]:
    """A scripted batch of 40 people at 0.5 s an LLM call: busy for far longer than the test."""
    options = RunOptions(
        data=world.data, spec=world.spec_path, model_dir=model_dir, out=out, n=40, model="scripted"
    )
    options_file = out.parent / "options.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    options_file.write_text(options.model_dump_json(), encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, str(TESTS / "agent" / "run_scripted.py"), str(options_file), "0.5"],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def cli(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cf_agent", *map(str, args)],
        env={**ENV, "COLUMNS": "400"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_run_on_the_same_output_or_audit_log_is_refused(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "batch" / "results.jsonl"
    first = slow_run(world, model_dir, out)
    try:
        deadline = time.monotonic() + 60
        while not out.with_name(out.name + ".journal.jsonl").exists():
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() < deadline, "the first run never started"
            time.sleep(0.05)
        common = ("--data", world.data, "--spec", world.spec_path, "--classifier", model_dir)
        seconds = [
            cli("run", *common, "--model", "embedded", "--out", out),
            cli("run", *common, "--out", tmp_path / "batch" / "other.jsonl"),
        ]
        (_, same_out), (_, other_out) = (second.communicate(timeout=120) for second in seconds)

        for second, stderr in zip(seconds, (same_out, other_out), strict=True):
            assert second.returncode == 6, stderr
            assert f"pid {first.pid} (cf-agent run)" in stderr
            assert "fix:" in stderr and "Traceback" not in stderr
        assert "audit.db is in use" in other_out
        assert not (tmp_path / "batch" / "other.jsonl").exists()
        assert first.poll() is None, "the first run is still at work, undisturbed"
    finally:
        first.kill()
        first.wait(timeout=30)


def test_a_second_eval_on_the_same_folder_is_refused(world: World, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    options = EvalOptions(
        data=world.data, spec=world.spec_path, model_dir=tmp_path, out=out, methods=("search",)
    )
    with exclusive([out], "cf-agent eval"), pytest.raises(OutputBusyError) as error:
        evaluate(options)

    assert f"pid {os.getpid()} (cf-agent eval)" in error.value.message
    assert not out.exists()


def test_a_second_augment_on_the_same_folder_is_refused(world: World, tmp_path: Path) -> None:
    out = tmp_path / "study"
    options = AugmentOptions(data=world.data, spec=world.spec_path, out=out, methods=())
    with exclusive([out], "cf-agent augment"), pytest.raises(OutputBusyError) as error:
        run_study(options)

    assert f"pid {os.getpid()} (cf-agent augment)" in error.value.message
    assert not out.exists()


def test_a_second_finetune_on_the_same_adapter_is_refused(
    world: World, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "adapter"
    args = ["finetune", "--data", world.data, "--spec", world.spec_path, "--classifier",
            model_dir, "--out", out, "--sources", "dice-random"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["cf-agent", *map(str, args)])
    with exclusive([out], "cf-agent finetune"), pytest.raises(SystemExit) as exit_info:
        main()

    assert exit_info.value.code == 6
    assert list(tmp_path.iterdir()) == [], "refused before it wrote anything"


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from cf_agent.locks import exclusive\n"
         f"with exclusive([Path({str(out)!r})], 'holder'):\n print('held', flush=True); "
         "time.sleep(60)"],
        env=ENV, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    busy = pytest.raises(OutputBusyError, match=f"pid {holder.pid} \\(holder\\)")
    with busy, exclusive([out], "second"):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert lock_path(out).exists(), "a kill leaves the file, but not the lock"

    with exclusive([out], "after the kill"):
        assert "after the kill" in lock_path(out).read_text()
    assert not lock_path(out).exists()
