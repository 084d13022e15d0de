"""Kill and resume for `cf-agent finetune`: a work folder beside the adapter, and checkpoints.

A fine-tuning keeps its progress in `.<out>.resume/`, beside the adapter folder `<out>`:

    fingerprint.json   what the work was made from (data, spec, classifier, options)
    candidates.json    the teacher's and the other sources' candidate CFs
    examples.json      the training examples built from them
    revise.json        the on-policy revise examples (the base model's rejected proposals)
    checkpoint.pt      training: LoRA weights, optimiser, LR schedule, RNG states, step,
                       data order, the best adapter so far and its early-stopping state
    training.json      the training report, once training is over
    adapter/           the adapter folder being filled; renamed to <out> at the end

Every file is written to a temporary name, fsynced and renamed, so a SIGKILL at any moment
leaves each one whole or absent. A rerun of the same command takes every finished phase from
here and carries on training from the last checkpoint, ending with the same adapter an
uninterrupted run writes; a rerun with other inputs or options is refused (or, with
--overwrite, starts afresh). The folder goes when the adapter is published or the run fails
with an error; a kill or SIGTERM leaves it for the rerun.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from pydantic import TypeAdapter, ValidationError

from cf_agent.errors import OutputError
from cf_agent.fileio import read_state_file, write_text_atomic
from cf_agent.finetune.tracker import BestAdapter, load_lora_weights, lora_weights

FINGERPRINT_FILE = "fingerprint.json"
CANDIDATES_FILE = "candidates.json"
BUILT_FILE = "examples.json"
REVISE_FILE = "revise.json"
PROBE_REVISE_FILE = "probe-revise.json"
CHECKPOINT_FILE = "checkpoint.pt"
TRAINED_FILE = "training.json"
STAGING_DIR = "adapter"
FORMAT = 1

T = TypeVar("T")


def resume_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.resume"


class ResumeDir:
    """The work folder of one fine-tuning (see the module doc)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = resume_dir(out)
        self.staging = self.path / STAGING_DIR

    def open(self, fingerprint: str, overwrite: bool) -> None:
        """Resume work made from the same inputs; refuse other work unless `overwrite`."""
        meta = self.path / FINGERPRINT_FILE
        fix = f"delete {self.path} to start afresh"
        known = read_state_file(meta, fix).get("fingerprint") if meta.exists() else None
        if known is not None and known != fingerprint:
            if not overwrite:
                raise OutputError(
                    f"{self.path} holds an unfinished fine-tuning of {self.out} made from other "
                    "data, spec, classifier, base model or options",
                    "rerun that command to resume it, or pass --overwrite (or delete the "
                    "folder) to start afresh",
                )
            self.discard()
        self.path.mkdir(parents=True, exist_ok=True)
        write_text_atomic(meta, json.dumps({"fingerprint": fingerprint}, indent=2) + "\n")

    def published(self) -> bool:
        """True when a killed run had already renamed its adapter into place."""
        return (
            (self.path / TRAINED_FILE).exists() and not self.staging.exists() and self.out.exists()
        )

    def load(self, name: str, kind: TypeAdapter[T]) -> T | None:
        """A finished phase's result, or None when that phase has not finished."""
        path = self.path / name
        if not path.exists():
            return None
        try:
            return kind.validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise OutputError(
                f"{path} is damaged: {exc}", f"delete {self.path} to start afresh"
            ) from exc

    def save(self, name: str, kind: TypeAdapter[T], value: T) -> None:
        write_text_atomic(self.path / name, kind.dump_json(value).decode() + "\n")

    def trained(self) -> Path:
        return self.path / TRAINED_FILE

    def checkpoint(self, every: int) -> TrainingCheckpoint:
        return TrainingCheckpoint(self.path / CHECKPOINT_FILE, every)

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


@dataclass
class Progress:
    """Where training stands: what a checkpoint restores besides the tensors."""

    order: list[int] = field(default_factory=list)  # example indices, batch after batch
    step: int = 0
    losses: list[float] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    val_before: float | None = None
    stopped: bool = False


def rng_state() -> dict[str, Any]:
    name, keys, position, has_gauss, gauss = np.random.get_state(legacy=True)
    return {
        "python": random.getstate(),
        "numpy": [name, [int(k) for k in keys], position, has_gauss, gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), position, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class TrainingCheckpoint:
    """Saves training's whole state every `every` steps (and at the end); restores it."""

    def __init__(self, path: Path, every: int = 1) -> None:
        self.path = path
        self.every = every

    def due(self, progress: Progress, total: int) -> bool:
        return progress.stopped or progress.step == total or progress.step % self.every == 0

    def save(
        self,
        fingerprint: str,
        model: Any,
        optimizer: torch.optim.Optimizer,
        schedule: torch.optim.lr_scheduler.LRScheduler,
        tracker: BestAdapter,
        progress: Progress,
    ) -> None:
        state = {
            "format": FORMAT,
            "fingerprint": fingerprint,
            "progress": asdict(progress),
            "lora": lora_weights(model),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "tracker": tracker.state(),
            "rng": rng_state(),
        }
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            with open(tmp, "wb") as handle:
                torch.save(state, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(
                f"cannot write the training checkpoint {self.path}: {exc.strerror or exc}",
                "check free disk space and permissions of the output directory",
            ) from exc

    def restore(
        self,
        fingerprint: str,
        model: Any,
        optimizer: torch.optim.Optimizer,
        schedule: torch.optim.lr_scheduler.LRScheduler,
        tracker: BestAdapter,
    ) -> Progress | None:
        """Put the saved state back and return its progress; None when there is none yet."""
        if not self.path.exists():
            return None
        fix = f"delete {self.path.parent} to start afresh"
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several kinds for a damaged file
            raise OutputError(
                f"the training checkpoint {self.path} is damaged: {exc}", fix
            ) from exc
        if state.get("format") != FORMAT or state.get("fingerprint") != fingerprint:
            raise OutputError(
                f"the training checkpoint {self.path} was made from other training examples, "
                "base model or settings",
                fix,
            )
        try:
            load_lora_weights(model, state["lora"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            tracker.restore(state["tracker"])
            restore_rng(state["rng"])
            return Progress(**state["progress"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise OutputError(
                f"the training checkpoint {self.path} is damaged: {exc}", fix
            ) from exc
