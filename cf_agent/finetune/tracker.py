"""The best adapter so far: held-out validity measured every few steps, and early stopping.

Its whole state (the validity curve, the best step and that step's LoRA weights, whether
patience ran out) goes into each training checkpoint, so a resumed run keeps the same adapter
an uninterrupted run would.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ValidityFn = Callable[[Path], float]


def lora_weights(model: Any) -> dict[str, torch.Tensor]:
    """A copy of the model's LoRA weights (the only trained ones)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}


def load_lora_weights(model: Any, weights: dict[str, torch.Tensor]) -> None:
    """Put saved LoRA weights back; a name the model lacks is an error, not skipped."""
    unexpected = model.load_state_dict(weights, strict=False).unexpected_keys
    if unexpected:
        raise ValueError(f"LoRA weights the model does not have: {unexpected[:3]}")


class BestAdapter:
    """Measures the adapter's held-out validity and keeps the LoRA weights of the best one."""

    def __init__(self, model: Any, validity: ValidityFn | None, out: Path, patience: int) -> None:
        self.model = model
        self.validity = validity
        self.scratch = out / ".measure"
        self.patience = patience
        self.curve: list[tuple[int, float]] = []
        self.best_step: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stopped_early = False

    def measure(self, step: int) -> bool:
        """Score the adapter now; True when patience has run out."""
        if self.validity is None:
            return False
        self.model.eval()
        self.model.save_pretrained(str(self.scratch))
        try:
            score = self.validity(self.scratch)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
        self.curve.append((step, score))
        best = max(s for _, s in self.curve[:-1]) if len(self.curve) > 1 else -1.0
        if score > best:
            self.best_step = step
            self.best_state = lora_weights(self.model)
        since_best = (
            len(self.curve)
            - 1
            - max(i for i, (s_, _) in enumerate(self.curve) if s_ == self.best_step)
        )
        self.stopped_early = since_best >= self.patience
        return self.stopped_early

    def finish(self, step: int) -> None:
        """Measure the final adapter (unless just measured) and restore the best one."""
        if self.validity is None:
            return
        if not self.curve or self.curve[-1][0] != step:
            self.measure(step)
        if self.best_state is not None and self.best_step != step:
            load_lora_weights(self.model, self.best_state)

    def state(self) -> dict[str, Any]:
        """Everything a checkpoint needs to carry on from here."""
        return {
            "curve": [[step, score] for step, score in self.curve],
            "best_step": self.best_step,
            "best_state": self.best_state,
            "stopped_early": self.stopped_early,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.curve = [(int(step), float(score)) for step, score in state["curve"]]
        self.best_step = state["best_step"]
        self.best_state = state["best_state"]
        self.stopped_early = bool(state["stopped_early"])
