"""The options of a run, declared once: `cf-agent run` builds its flags from them, `CFAgent`
takes them as keyword arguments, and both are validated here, with the same limits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

# The settings that change what a run returns: a rerun may resume only if they are unchanged.
RESULT_SHAPING = frozenset({"model", "k", "max_rounds", "refine", "hints", "n", "margin"})

# The LLM settings other commands (eval, augment) share with a run, declared once each.
Prompt = Annotated[
    str | None,
    Field(description="compact | zero_shot | few_shot | path to .toml (default: per model)"),
]
RevisePrompt = Annotated[
    str | None, Field(description="Template for revisions (default: the prompt's own).")
]
MaxRounds = Annotated[int, Field(ge=1, le=20, description="LLM rounds before giving up.")]
Margin = Annotated[
    float, Field(ge=0.0, lt=1.0, description="Required probability margin, in [0, 1).")
]
BaseUrl = Annotated[str | None, Field(description="OpenAI-compatible base URL.")]
ApiKey = Annotated[
    SecretStr | None,
    Field(
        description="API key (better: OPENAI_API_KEY).",
        json_schema_extra={"envvar": "CF_AGENT_API_KEY"},
    ),
]
BatchSize = Annotated[int, Field(ge=1, description="Local generation batch size.")]
Concurrency = Annotated[int, Field(ge=1, description="Parallel requests to openai: endpoints.")]
# A study's own command line, quoted in its report; the CLI fills it in (not a flag).
CommandLine = Annotated[
    str,
    Field(description="The command line, quoted in the report.", json_schema_extra={"cli": "argv"}),
]


class RunSettings(BaseModel):
    """How the agent proposes, verifies and revises (no file paths: the API's parameters)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default="embedded", description="embedded | hf:<id>[@adapter] | openai:<model>"
    )
    prompt: Prompt = None
    revise_prompt: RevisePrompt = None
    k: int = Field(default=1, ge=1, le=20, description="Diverse CFs wanted per person.")
    max_rounds: MaxRounds = 4
    refine: bool = Field(
        default=True,
        description="After the LLM rounds, let the search finish the LLM's proposals (CFs "
        "labelled refine) or start from the person's row (labelled search).",
    )
    hints: bool = Field(
        default=True, description="Tell the LLM which allowed moves raise p(desired) most."
    )
    n: int | None = Field(default=None, ge=1, description="At most this many people.")
    margin: Margin = 0.0
    base_url: BaseUrl = None
    api_key: ApiKey = None
    batch_size: BatchSize = 8
    concurrency: Concurrency = 4


class RunJob(RunSettings):
    """The settings plus where results and the audit trail go (the API's in-memory runs)."""

    out: Path = Field(description="Results: .jsonl, .csv or .parquet.")
    audit_db: Path | None = Field(
        default=None,
        description="Audit log (SQLite); default: audit.db beside --out.",
        json_schema_extra={"flag": "--audit"},
    )
    overwrite: bool = Field(default=False, description="Replace an existing output file.")


class RunOptions(RunJob):
    """Everything `cf-agent run` takes: the job plus the files it reads."""

    data: Path = Field(description="CSV or Parquet file.")
    spec: Path = Field(description="Feature spec (.toml).")
    model_dir: Path = Field(
        description="Bundle from `cf-agent train`.", json_schema_extra={"flag": "--classifier"}
    )


class FanoutSettings(BaseModel):
    """`cf-agent run --ray N`: the same run in shards on Ray workers (docs/scale.md)."""

    model_config = ConfigDict(extra="forbid")

    ray_workers: int | None = Field(
        default=None,
        ge=1,
        description="Fan out over N Ray workers (ray extra).",
        json_schema_extra={"flag": "--ray"},
    )
    ray_address: str | None = Field(
        default=None, description="Join this Ray cluster instead of a local one."
    )
