"""`cf-agent finetune` survives SIGKILL: killed 10 times at random points, then the same adapter.

A tiny causal LM (random weights, the embedded model's tokenizer; tests/finetune/tiny_model.py)
stands in for the base model, so the whole command (search teacher, example building, the base
model's on-policy revise examples, 6 LoRA steps with validity measured at steps 3 and 6, card,
publication) takes half a minute. An uninterrupted run is the reference. Then the command is
killed KILLS times at random moments of the work it had left, in children forked from a server
that has imported cf-agent (kill_trials.py), so the kills land in the work, not in Python's
imports. The last folder is finished by the real `python -m cf_agent finetune` command.

Every folder's adapter weights equal the reference's bit for bit (CPU, float32: the same
operations on the same numbers in the same order), as do its examples and the card's training
record, wall-clock figures aside. No work folder, temporary file or lock is left behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from finetune.tiny_model import write_tiny_model
from kill_trials import ENV, CliForkServer, kill_trials
from world import World

from cf_agent.finetune.checkpoint import resume_dir

KILLS = 10
CLOCK = ("seconds", "seconds_per_step", "tokens_per_second")

pytestmark = pytest.mark.slow


def arguments(world: World, model_dir: Path, base: Path, out: Path) -> list[str]:
    return [
        "finetune", "--data", str(world.data), "--spec", str(world.spec_path),
        "--classifier", str(model_dir), "--out", str(out), "--base", f"hf:{base}",
        "--sources", "search", "--people", "8", "--val-share", "0.3", "--revise-share", "0.3",
        "--eval-people", "1", "--time-limit", "60", "--rank", "4", "--batch-size", "1",
        "--max-steps", "6", "--eval-every", "3", "--compare-n", "0",
    ]  # fmt: skip


def record(out: Path) -> dict[str, Any]:
    """What must equal the reference: weights, examples, and the card's training record."""
    card = json.loads((out / "card.json").read_text(encoding="utf-8"))
    for name in ("created_at", "command", "adapter_files"):  # files: the config's order
        card.pop(name)
    for name in CLOCK:
        card["training"].pop(name)
    config = json.loads((out / "adapter_config.json").read_text(encoding="utf-8"))
    config["target_modules"] = sorted(config["target_modules"])  # peft writes a set, in the
    # order of the interpreter's string hashes: it differs between processes, killed or not
    return {
        "weights": (out / "adapter_model.safetensors").read_bytes(),
        "config": config,
        "examples": (out / "examples.jsonl").read_bytes(),
        "card": card,
    }


def stage(out: Path) -> str:
    """How far a killed run had got, from what its work folder holds."""
    work = resume_dir(out)
    for name, done in (
        ("training.json", "trained"),
        ("checkpoint.pt", "training"),
        ("revise.json", "revise examples"),
        ("examples.json", "examples"),
        ("candidates.json", "candidates"),
    ):
        if (work / name).exists():
            if name == "checkpoint.pt":
                saved = torch.load(work / name, weights_only=True)["progress"]["step"]
                return f"step {saved}"
            return done
    return "nothing"


def test_finetune_killed_ten_times_resumes_to_the_same_adapter(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    base = write_tiny_model(tmp_path / "tiny")

    def args(out: Path) -> list[str]:
        return arguments(world, model_dir, base, out)

    stages: list[str] = []
    with CliForkServer(tmp_path / "children.log") as server:
        started = time.monotonic()
        server.start(args(tmp_path / "reference"))
        assert server.status() == 0, server.log.read_text()
        work_seconds = time.monotonic() - started
        folders = kill_trials(
            server,
            args,
            lambda i: tmp_path / f"killed{i}",
            KILLS,
            work_seconds,
            on_kill=lambda out: stages.append(stage(out)),
        )
    # The last folder, killed last, is finished by the command itself.
    final = subprocess.run(
        [sys.executable, "-m", "cf_agent", *args(folders[-1])],
        env=ENV, capture_output=True, text=True,
    )  # fmt: skip
    assert final.returncode == 0, final.stderr

    reference = record(tmp_path / "reference")
    for out in folders:
        assert record(out) == reference, f"{out.name} differs from the reference"
    assert len(stages) == KILLS
    assert any(s.startswith("step") for s in stages), f"no kill landed in training: {stages}"
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert left == [], "no work folder, temporary file or lock is left behind"
    print(f"{work_seconds:.0f} s a run; {len(folders)} folders; done when killed: {stages}")
