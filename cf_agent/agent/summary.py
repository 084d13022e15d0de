"""The end-of-run summary: pure-LLM and refined figures reported separately."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field


class RunSummary(BaseModel):
    """Aggregate figures over a run's query records."""

    queries: int = Field(description="Queries processed.")
    success_rate: float = Field(description="Share of queries with at least one verified CF.")
    returned_cfs: int = Field(description="Verified CFs returned.")
    returned_validity: float = Field(description="Share of returned CFs passing all verifiers.")
    llm_only_success_rate: float = Field(description="Success counting LLM-written CFs only.")
    first_proposal_validity: float = Field(
        description="Share of queries whose first LLM try passed."
    )
    llm_proposal_validity: float = Field(description="Share of all LLM proposals that passed.")
    parse_failure_rate: float = Field(description="Share of LLM answers that were unusable.")
    refined_share: float = Field(description="Share of returned CFs that refinement produced.")
    mean_rounds: float = Field(description="Mean LLM rounds per query.")
    mean_llm_calls: float = Field(description="Mean LLM calls per query.")
    mean_plausibility: float = Field(description="Mean plausibility score of returned CFs.")
    mean_sparsity: float = Field(description="Mean number of features changed per returned CF.")
    median_seconds_per_cf: float = Field(description="Median wall time per verified CF.")


def _mean(values: Sequence[float]) -> float:
    return float(statistics.fmean(values)) if values else float("nan")


def summarize(records: Sequence[dict[str, Any]]) -> RunSummary:
    cfs = [cf for r in records for cf in r["counterfactuals"]]
    llm_props = sum(r["llm_proposals"] for r in records)
    per_cf_time = [
        r["seconds"] / len(r["counterfactuals"]) for r in records if r["counterfactuals"]
    ]
    n = len(records)
    return RunSummary(
        queries=n,
        success_rate=_mean([bool(r["counterfactuals"]) for r in records]),
        returned_cfs=len(cfs),
        returned_validity=_mean([all(v["passed"] for v in cf["verdicts"].values()) for cf in cfs]),
        llm_only_success_rate=_mean(
            [any(cf["source"] != "refine" for cf in r["counterfactuals"]) for r in records]
        ),
        first_proposal_validity=_mean([r["first_proposal_valid"] for r in records]),
        llm_proposal_validity=(sum(r["llm_valid"] for r in records) / llm_props)
        if llm_props
        else float("nan"),
        parse_failure_rate=(sum(r["parse_failures"] for r in records) / llm_props)
        if llm_props
        else float("nan"),
        refined_share=_mean([cf["source"] == "refine" for cf in cfs]),
        mean_rounds=_mean([r["rounds"] for r in records]),
        mean_llm_calls=_mean([r["llm_calls"] for r in records]),
        mean_plausibility=_mean(
            [
                cf["verdicts"]["plausibility"]["score"]
                for cf in cfs
                if "plausibility" in cf["verdicts"]
            ]
        ),
        mean_sparsity=_mean([len(cf["changes"]) for cf in cfs]),
        median_seconds_per_cf=float(statistics.median(per_cf_time))
        if per_cf_time
        else float("nan"),
    )
