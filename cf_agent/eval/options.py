"""What `cf-agent eval` takes, declared once: the command's flags, help texts, defaults and limits
come from here (cf_agent/cli/options.py), and the service validates the same model."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from cf_agent.agent.options import (
    ApiKey,
    BaseUrl,
    BatchSize,
    CommandLine,
    Concurrency,
    Margin,
    MaxRounds,
    Prompt,
    RevisePrompt,
)

DEFAULT_METHODS = ("embedded", "embedded+refine", "search", "dice-random", "cfnow-greedy", "nice")


class EvalOptions(BaseModel):
    """Everything `cf-agent eval` takes; all but methods and overwrite decide what may resume."""

    data: Path = Field(description="CSV or Parquet file.")
    spec: Path = Field(description="Feature spec (.toml).")
    model_dir: Path = Field(
        description="Bundle from `cf-agent train`.", json_schema_extra={"flag": "--classifier"}
    )
    out: Path = Field(description="Directory for the report, CSVs, figures and journals.")
    methods: tuple[str, ...] = Field(
        default=DEFAULT_METHODS,
        min_length=1,
        description="Comma-separated: LLM model strings (embedded, hf:..., openai:...: the LLM "
        "alone; append +refine for the LLM followed by the search) and baselines (search, "
        "dice-random, dice-genetic, dice-kdtree, cfnow-greedy, cfnow-random, nice, probes).",
    )
    n: int | None = Field(default=100, ge=1, description="At most this many people (same for all).")
    k: int = Field(default=1, ge=1, le=20, description="CFs asked per person.")
    margin: Margin = 0.0
    seed: int = Field(default=0, ge=0, description="Seed of the randomised baselines.")
    time_limit_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a baseline may search per person.",
        json_schema_extra={"flag": "--time-limit"},
    )
    cfnow_seconds: float = Field(default=3.0, gt=0, description="CFNOW's fine-tuning budget.")
    nice_optimization: Literal["sparsity", "proximity"] = Field(
        default="sparsity", description="NICE: sparsity or proximity."
    )
    prompt: Prompt = None
    revise_prompt: RevisePrompt = None
    max_rounds: MaxRounds = 4
    hints: bool = Field(default=True, description="LLMs: sensitivity hints.")
    base_url: BaseUrl = None
    api_key: ApiKey = None
    batch_size: BatchSize = 8
    concurrency: Concurrency = 4
    overwrite: bool = Field(default=False, description="Discard an earlier eval in --out.")
    command: CommandLine = ""
