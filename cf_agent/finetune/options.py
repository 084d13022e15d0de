"""What `cf-agent finetune` takes, declared once: the command's flags, help texts, defaults and
limits come from FinetuneOptions and the LoraSettings it holds (cf_agent/cli/options.py). A light
module (pydantic only), so the command line reads it without loading torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from cf_agent.agent.options import CommandLine

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class LoraSettings(BaseModel):
    """Training settings, recorded in the adapter card."""

    rank: int = Field(default=16, ge=1, description="LoRA rank r.")
    alpha: int = Field(default=32, ge=1, description="LoRA alpha (scale = alpha / r).")
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0, description="LoRA dropout.")
    target_modules: tuple[str, ...] = Field(
        default=DEFAULT_TARGETS, description="Modules LoRA adapts, comma-separated."
    )
    top_layers: int | None = Field(
        default=None,
        ge=1,
        description="LoRA on the last N layers only (faster on CPU; default: all layers).",
    )
    epochs: float = Field(default=2.0, gt=0, description="Passes over the training examples.")
    learning_rate: float = Field(
        default=1e-3, gt=0, description="Peak AdamW learning rate (cosine schedule)."
    )
    batch_size: int = Field(default=8, ge=1, description="Examples per step.")
    max_steps: int | None = Field(
        default=96,
        ge=1,
        description="Stop after this many steps (96: about 45 min on 2 CPU cores).",
    )
    warmup_share: float = Field(
        default=0.05, ge=0.0, lt=1.0, description="Share of the steps that warm the rate up."
    )
    max_length: int = Field(default=1024, ge=64, description="Longer examples are left out.")
    eval_every: int = Field(
        default=16, ge=1, description="Steps between held-out validity measurements."
    )
    patience: int = Field(
        default=3, ge=1, description="Stop after this many measurements without improvement."
    )
    seed: int = Field(default=0, description="Training seed.")
    quantization: Literal["auto", "none", "4bit"] = Field(
        default="auto", description="4bit: QLoRA (CUDA + bitsandbytes); auto: 4bit when possible."
    )
    gradient_checkpointing: bool | None = Field(
        default=None, description="Default: on for CUDA, off for CPU."
    )


class FinetuneOptions(BaseModel):
    """Everything `cf-agent finetune` takes. `seed` seeds the split, the baselines and, unless
    `lora` names its own, training."""

    data: Path = Field(description="CSV or Parquet file.")
    spec: Path = Field(description="Feature spec (.toml).")
    model_dir: Path = Field(
        description="Bundle from `cf-agent train`.", json_schema_extra={"flag": "--classifier"}
    )
    out: Path = Field(description="Adapter directory to write.")
    base: str = Field(default="embedded", description="embedded or hf:<id|path>.")
    sources: str = Field(
        default="probes",
        description="Where targets come from, comma-separated: baselines (probes by default: "
        "the shortest prefix of the probes the prompt shows that flips the class; search: the "
        "refinement search's sparsest CF), run:<results.jsonl>, audit:<db>.",
    )
    people: int | None = Field(default=640, ge=1, description="First N queries to learn from.")
    val_share: float = Field(default=0.06, gt=0.0, lt=1.0, description="Share of people held out.")
    revise_share: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Share of training people whose own rejected first proposal (from the base "
        "model, or --revise-from) becomes an on-policy revise example.",
    )
    revise_from: str | None = Field(
        default=None,
        description="Model whose rejected first proposals the revise examples continue: "
        "embedded | embedded-base | hf:<path>[@adapter] (default: the base model). Name the "
        "adapter being improved on, so revise rounds learn from the errors it really makes.",
    )
    teacher_margin: float = Field(
        default=0.3,
        ge=0.0,
        lt=1.0,
        description="search and probes teachers: lead of the desired class (0.3: a target goes "
        "a probe past the one that barely flips, which small models otherwise stop short of).",
    )
    teacher_grid: Literal["fine", "half"] = Field(
        default="half", description="search teacher: shrink to tenths or to half/whole steps."
    )
    eval_people: int = Field(
        default=32, ge=1, description="Held-out people whose first-proposal validity is tracked."
    )
    time_limit_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds per person, per baseline.",
        json_schema_extra={"flag": "--time-limit"},
    )
    prompt: str = Field(
        default="compact",
        description="Prompt the examples are written in: compact | zero_shot | few_shot | .toml.",
    )
    revise_prompt: str | None = Field(
        default=None, description="Template of the revise examples (default: the prompt's own)."
    )
    hints: bool = Field(default=True, description="Sensitivity hints in the prompts.")
    lora: LoraSettings = Field(default_factory=LoraSettings)
    compare_n: int = Field(default=20, ge=0, description="Held-out people compared; 0: skip.")
    compare_rounds: int = Field(default=2, ge=1, description="LLM rounds in the before/after runs.")
    device: str | None = Field(
        default=None, description="torch device (default: cuda when available, else cpu)."
    )
    seed: int = Field(default=0, description="Seed of split, baselines and training.")
    checkpoint_every: int = Field(
        default=1, ge=1, description="Training steps between checkpoints (resume after a kill)."
    )
    overwrite: bool = Field(default=False, description="Replace an existing adapter dir.")
    command: CommandLine = ""

    @field_validator("revise_from")
    @classmethod
    def _local_model(cls, value: str | None) -> str | None:
        """Checked here, not after minutes of teacher search: a local model the trainer can run."""
        if value is None or value in ("embedded", "embedded-base"):
            return value
        if value.startswith("hf:") and value.removeprefix("hf:").partition("@")[0]:
            return value
        raise ValueError(f"{value!r} is not embedded, embedded-base or hf:<path>[@adapter]")

    @model_validator(mode="before")
    @classmethod
    def _training_seed(cls, values: Any) -> Any:
        """Training takes `seed` unless `lora` gives its own (the command line's one --seed)."""
        if isinstance(values, dict) and "seed" in values:
            lora = values.get("lora", {})
            if isinstance(lora, dict) and "seed" not in lora:
                values = {**values, "lora": {**lora, "seed": values["seed"]}}
        return values
