"""What `cf-agent augment` takes and returns, declared once: the command's flags, help texts,
defaults and limits come from AugmentOptions (cf_agent/cli/options.py). A light module (pydantic
only), so the command line reads it without loading the study."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from cf_agent.agent.options import (
    ApiKey,
    BaseUrl,
    BatchSize,
    CommandLine,
    Concurrency,
    Prompt,
    RevisePrompt,
)
from cf_agent.models.classifier.kinds import ModelKind

BALANCE = "balance"
ALL_KINDS: tuple[ModelKind, ...] = ("gbm", "logreg", "rf", "mlp")

ProgressFn = Callable[[str, int, int], None]
RowCount = int | Literal["balance"]
Resampler = Literal["smote", "adasyn", "borderline-smote", "oversample"]
SourceOrder = Literal["boundary", "spread", "diverse"]


def scenario_name(keep: float) -> str:
    """'keep25' for 0.25, 'keep12.5' for 0.125."""
    return f"keep{keep * 100:g}"


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _split_counts(value: Any) -> Any:
    value = _split_list(value)
    if isinstance(value, tuple):
        return tuple(v if v == BALANCE else int(v) for v in value)
    return value


def rows_token(count: RowCount) -> str:
    """'40' or 'balance': the count as journal keys and tables name it."""
    return str(count)


class AugmentOptions(BaseModel):
    """Everything `cf-agent augment` takes. keep, seeds, methods, pull, resamplers, classifier
    kinds and rows may grow between calls; the other result-shaping options must stay the same for a
    study to resume. The defaults are the best setting measured on the demo cohort
    (docs/augmentation.md)."""

    data: Path = Field(description="CSV or Parquet file.")
    spec: Path = Field(description="Feature spec (.toml).")
    out: Path = Field(description="Directory for the report, CSVs, figure, journals and runs.")
    classifier: Path | None = Field(
        default=None, description="Bundle whose saved split to reuse; else a fresh split."
    )
    test_size: float = Field(default=0.25, gt=0, lt=1, description="Fresh split: share held out.")
    split_seed: int = Field(default=0, ge=0, description="Fresh split: random seed.")
    classifier_kinds: tuple[ModelKind, ...] = Field(
        default=ALL_KINDS,
        min_length=1,
        description="Classifier kinds, each scored separately: gbm, logreg, rf, mlp.",
    )
    teacher_kind: ModelKind = Field(
        default="gbm",
        description="Kind of the scarce model the CFs are generated against and verified by; "
        "the same CF rows then serve every classifier kind, as SMOTE's rows do.",
    )
    keep: tuple[float, ...] = Field(
        default=(0.5, 0.25, 0.1), min_length=1, description="Minority shares kept, each in (0, 1)."
    )
    seeds: int = Field(default=5, ge=1, description="Seeds 0..seeds-1 per scenario.")
    methods: tuple[str, ...] = Field(
        default=("search",), description="CF methods: baselines and LLM model strings."
    )
    resamplers: tuple[Resampler, ...] = Field(
        default=("smote",),
        description="imbalanced-learn arms beside the CFs: smote, adasyn, borderline-smote, "
        "oversample.",
    )
    rows: tuple[RowCount, ...] = Field(
        default=(25, 100),
        min_length=1,
        description="Rows each arm adds (a count, or 'balance': up to the largest class); "
        "counts past balance are cut to it.",
    )
    sources: SourceOrder = Field(
        default="boundary", description="Which majority rows the CFs start from, in what order."
    )
    margin: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="A CF is used only if the teacher puts p(minority) - p(other) at least "
        "this far past the boundary; search aims for it.",
    )
    pull: tuple[float, ...] = Field(
        default=(0.0, 0.5),
        min_length=1,
        description="CF arms per method: 0 adds the CF rows as they are; p > 0 moves each a "
        "random fraction up to p of the way toward one of its 5 nearest minority rows.",
    )
    max_rounds: int = Field(default=1, ge=1, le=20, description="LLM rounds before refinement.")
    require_plausible: bool = Field(default=True, description="Use only plausible CFs.")
    time_limit_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a baseline may search per row.",
        json_schema_extra={"flag": "--time-limit"},
    )
    prompt: Prompt = None
    revise_prompt: RevisePrompt = None
    base_url: BaseUrl = None
    api_key: ApiKey = None
    batch_size: BatchSize = 8
    concurrency: Concurrency = 4
    overwrite: bool = Field(default=False, description="Discard an earlier study in --out.")
    command: CommandLine = ""

    _split_keep = field_validator("keep", mode="before")(_split_list)
    _split_methods = field_validator("methods", mode="before")(_split_list)
    _split_resamplers = field_validator("resamplers", mode="before")(_split_list)
    _split_kinds = field_validator("classifier_kinds", mode="before")(_split_list)
    _split_rows = field_validator("rows", mode="before")(_split_counts)
    _split_pull = field_validator("pull", mode="before")(_split_list)

    @field_validator("keep")
    @classmethod
    def _check_keep(cls, keep: tuple[float, ...]) -> tuple[float, ...]:
        for value in keep:
            if not 0 < value < 1:
                raise ValueError(f"keep fractions must lie between 0 and 1, got {value:g}")
        names = [scenario_name(k) for k in keep]
        if len(set(names)) != len(names):
            raise ValueError(f"keep fractions repeat: {', '.join(names)}")
        return keep

    @field_validator("rows")
    @classmethod
    def _check_rows(cls, rows: tuple[RowCount, ...]) -> tuple[RowCount, ...]:
        for value in rows:
            if value != BALANCE and int(value) < 1:
                raise ValueError(f"rows must be positive counts or 'balance', got {value}")
        return tuple(dict.fromkeys(rows))

    @field_validator("pull")
    @classmethod
    def _check_pull(cls, pull: tuple[float, ...]) -> tuple[float, ...]:
        for value in pull:
            if not 0 <= value <= 1:
                raise ValueError(f"pull fractions must lie between 0 and 1, got {value:g}")
        return tuple(dict.fromkeys(pull))

    @field_validator("methods", "resamplers", "classifier_kinds")
    @classmethod
    def _unique(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(values))


class StudyFiles(BaseModel):
    """Where the study's outputs are."""

    markdown: Path
    results_csv: Path
    summary_csv: Path
    generated_csv: Path
    figure: Path


class AugmentOutcome(BaseModel):
    out: Path
    files: StudyFiles
    summary: list[dict[str, Any]] = Field(description="summary.csv's rows.")
    average: list[dict[str, Any]] = Field(description="Per kind, count and arm, over scenarios.")
    resumed: int = Field(description="Units taken from an earlier, interrupted study.")
