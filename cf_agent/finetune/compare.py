"""Before/after: the base model and the adapted one through the agent, on the same held-out people.

The agent runs its queries in file order, so the people to compare on are written first into a
copy of the data (same rows, same classifier split) and `n` stops the run after them.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from cf_agent.agent.runner import RunOptions, run_agent
from cf_agent.agent.summary import RunSummary
from cf_agent.data.cohort import Cohort
from cf_agent.models.llm.base import ChatBackend
from cf_agent.models.llm.local import TransformersBackend
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.prompts.render import load_prompts

COMPARED = (
    ("first_proposal_validity", "first proposal valid"),
    ("success_rate", "success rate"),
    ("llm_only_success_rate", "success, LLM-written CFs only"),
    ("llm_proposal_validity", "LLM proposals valid"),
    ("parse_failure_rate", "unusable answers"),
    ("mean_rounds", "mean LLM rounds"),
    ("mean_plausibility", "mean plausibility"),
    ("mean_sparsity", "mean features changed"),
    ("median_seconds_per_cf", "median s per CF"),
)


class ComparisonSettings(BaseModel):
    data: Path
    spec: Path
    model_dir: Path
    prompt: str = "compact"
    revise_prompt: str | None = None
    max_rounds: int = Field(default=2, ge=1)
    refine: bool = False
    hints: bool = True


class Comparison(BaseModel):
    """The two runs' summaries over the same people."""

    people: list[str]
    max_rounds: int
    before_model: str
    after_model: str
    before: RunSummary
    after: RunSummary

    def markdown(self) -> str:
        lines = [
            f"Held-out people: {len(self.people)}; max LLM rounds {self.max_rounds}.",
            "",
            f"| metric | before ({self.before_model}) | after ({self.after_model}) |",
            "|---|---|---|",
        ]
        for key, label in COMPARED:
            before, after = getattr(self.before, key), getattr(self.after, key)
            lines.append(f"| {label} | {_fmt(before)} | {_fmt(after)} |")
        return "\n".join(lines) + "\n"


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3g}"


def _ordered_copy(cohort: Cohort, people: Sequence[str], out: Path) -> Path:
    ids = cohort.ids.astype(str)
    position = {person: i for i, person in enumerate(ids)}
    first = cohort.frame.iloc[[position[p] for p in people]]
    rest = cohort.frame[~ids.isin(set(people))]
    path = out / "ordered.parquet"
    pd.concat([first, rest], ignore_index=True).to_parquet(path, index=False)
    return path


def _labelled(
    label: str, progress: Callable[[str, int, int], None] | None
) -> Callable[[int, int, dict[str, Any]], None] | None:
    if progress is None:
        return None
    return lambda done, total, _record: progress(label, done, total)


def compare_models(
    settings: ComparisonSettings,
    cohort: Cohort,
    people: Sequence[str],
    backends: Sequence[tuple[str, ChatBackend]],
    progress: Callable[[str, int, int], None] | None = None,
) -> list[RunSummary]:
    """Run the agent with each (label, backend) on `people` (all queries now); summaries."""
    spec = cohort.spec
    initial, revise = load_prompts(settings.prompt, settings.revise_prompt)
    summaries = []
    with tempfile.TemporaryDirectory(prefix="cf-agent-compare-") as tmp:
        work = Path(tmp)
        data = _ordered_copy(cohort, people, work)
        for label, backend in backends:
            options = RunOptions(
                data=data,
                spec=settings.spec,
                model_dir=settings.model_dir,
                out=work / f"{label}.jsonl",
                model=backend.model_string,
                prompt=settings.prompt,
                revise_prompt=settings.revise_prompt,
                max_rounds=settings.max_rounds,
                refine=settings.refine,
                hints=settings.hints,
                n=len(people),
                audit_db=work / "audit.db",
            )
            proposer = LLMProposer(backend, spec, initial, revise)
            outcome = run_agent(options, proposer=proposer, progress=_labelled(label, progress))
            summaries.append(outcome.summary)
    return summaries


def compare_adapter(
    settings: ComparisonSettings,
    cohort: Cohort,
    people: list[str],
    base: tuple[str, str],
    adapted: tuple[str, Path],
    device: str | None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Comparison:
    """The base model (label, path) before and with the adapter (label, folder) after."""
    base_label, model_path = base
    adapted_label, adapter = adapted
    before_backend = TransformersBackend(base_label, model_path, device=device)
    after_backend = TransformersBackend(
        adapted_label, model_path, adapter_path=adapter, device=device
    )
    before, after = compare_models(
        settings,
        cohort,
        people,
        [("before", before_backend), ("after", after_backend)],
        progress=progress,
    )
    return Comparison(
        people=people,
        max_rounds=settings.max_rounds,
        before_model=base_label,
        after_model="adapted",
        before=before,
        after=after,
    )
