"""The adapter folder's card (card.json, README.md) and its publication by one rename."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pydantic import BaseModel, Field

from cf_agent.errors import OutputError
from cf_agent.finetune.compare import Comparison
from cf_agent.finetune.train import LoraSettings, TrainReport


class AdapterCard(BaseModel):
    """card.json: what the adapter is, what it learnt from, how, and what it changed."""

    cf_agent_version: str
    created_at: str
    command: str
    base_model: str
    base_model_path: str
    data_hash: str = Field(description="sha256 of the training examples, prompts included.")
    cohort_data_hash: str
    spec_hash: str
    classifier_files: dict[str, str] = Field(description="Classifier bundle file -> sha256.")
    prompts: dict[str, str] = Field(description="Template name -> sha256.")
    sources: list[str]
    candidates: int
    dropped: dict[str, int]
    targets_by_source: dict[str, int]
    examples: dict[str, int] = Field(description="train / val / revise example counts.")
    persons: dict[str, int] = Field(description="train / val person counts.")
    settings: LoraSettings
    training: TrainReport
    metrics: Comparison | None = Field(description="Before/after on held-out people.")
    fingerprint: str | None = Field(
        default=None,
        description="Hash of the inputs and options that made it: the same command, rerun, "
        "finds it done.",
    )


def readme(card: AdapterCard) -> str:
    t, top = card.training, card.settings.top_layers
    lines = [
        f"# LoRA adapter for {card.base_model}",
        "",
        "Written by `cf-agent finetune`; load it with "
        f"`--model hf:<base folder>@<this folder>` (base: `{card.base_model_path}`).",
        "",
        f"- command: `{card.command}`" if card.command else "- command: (API call)",
        f"- training data: {card.examples['train']} examples from {card.persons['train']} people "
        f"(+ {card.examples['val']} validation examples from {card.persons['val']} other "
        f"people), hash {card.data_hash}; sources {', '.join(card.sources)}",
        f"- targets by source: {card.targets_by_source}; dropped candidates: {card.dropped}",
        f"- cohort {card.cohort_data_hash}, spec {card.spec_hash}, classifier files "
        f"{', '.join(f'{k} {v[:12]}' for k, v in card.classifier_files.items())}",
        f"- LoRA r={card.settings.rank}, alpha={card.settings.alpha}, "
        f"modules {', '.join(card.settings.target_modules)}, "
        f"layers {'all' if top is None else f'last {top}'}"
        f"; lr {card.settings.learning_rate:g}, batch {card.settings.batch_size}, {t.steps} steps",
        f"- device {t.device} ({t.dtype}, quantization {t.quantization}, gradient checkpointing "
        f"{'on' if t.gradient_checkpointing else 'off'}): {t.seconds_per_step:.1f} s/step, "
        f"{t.tokens_per_second:.0f} tokens/s",
        f"- train loss {t.train_loss_first:.3f} -> {t.train_loss_last:.3f}; validation loss "
        f"{_loss(t.val_loss_before)} (base) -> {_loss(t.val_loss_after)} (adapted)",
        "",
    ]
    if card.metrics is not None:
        lines += ["## Before/after on held-out people", "", card.metrics.markdown()]
    return "\n".join(lines)


def _loss(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def publish(tmp: Path, out: Path, overwrite: bool) -> None:
    """Rename the finished folder into place; an old adapter is replaced only after that."""
    os.chmod(tmp, 0o755)  # safetensors writes 0600; adapters are ordinary files
    for path in tmp.iterdir():
        os.chmod(path, 0o644)
    old = out.with_name(f".{out.name}.old")
    if out.exists():
        if not overwrite:
            raise OutputError(f"{out} already exists", "pass --overwrite or choose --out")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out, old)
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)  # also one a killed run left between the renames
