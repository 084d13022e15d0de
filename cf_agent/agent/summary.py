"""The end-of-run summary: who wrote the CFs, reported apart.

Three producers: the LLM alone (its own proposal passed), refinement (the search continued
from an LLM proposal) and the search alone (from the person's own row, no LLM input).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from cf_agent.agent.state import CFSource, is_llm_source


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
    llm_proposal_actionable: float = Field(
        default=float("nan"),
        description="Share of all LLM proposals passing the actionability check (immutables, "
        "ranges, directions, steps, rules).",
    )
    llm_proposal_plausible: float = Field(
        default=float("nan"),
        description="Share of all LLM proposals passing the plausibility check.",
    )
    refined_share: float = Field(
        description="Share of returned CFs the search wrote, continuing an LLM proposal."
    )
    search_share: float = Field(
        default=float("nan"),
        description="Share of returned CFs the search wrote from the person's own row (no LLM).",
    )
    mean_rounds: float = Field(description="Mean LLM rounds per query.")
    mean_llm_calls: float = Field(description="Mean LLM calls per query.")
    mean_plausibility: float = Field(
        description="Mean plausibility score of returned CFs (each passed the threshold)."
    )
    mean_sparsity: float = Field(description="Mean number of features changed per returned CF.")
    median_seconds_per_cf: float = Field(
        description="Median over queries of a query's wall time / its verified CFs (latency)."
    )
    wall_seconds_per_cf: float | None = Field(
        default=None,
        description="The run's wall time / verified CFs (throughput: parallel queries overlap).",
    )


def _mean(values: Sequence[float]) -> float:
    return float(statistics.fmean(values)) if values else float("nan")


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else float("nan")


def summarize(records: Iterable[dict[str, Any]], wall_seconds: float | None = None) -> RunSummary:
    """One pass over the records (they may stream from disk); only scalars are kept."""
    n = succeeded = llm_succeeded = first_valid = 0
    llm_props = llm_valid = parse_failures = llm_actionable = llm_plausible = 0
    rounds = llm_calls = 0.0
    cfs = valid_cfs = refined = searched = changed = 0
    plausibility: list[float] = []
    per_cf_time: list[float] = []
    for r in records:
        n += 1
        found = r["counterfactuals"]
        succeeded += bool(found)
        llm_succeeded += any(is_llm_source(cf["source"]) for cf in found)
        first_valid += bool(r["first_proposal_valid"])
        llm_props += r["llm_proposals"]
        llm_valid += r["llm_valid"]
        parse_failures += r["parse_failures"]
        by_check = r.get("llm_passed_by_check", {})
        llm_actionable += by_check.get("actionability", 0)
        llm_plausible += by_check.get("plausibility", 0)
        rounds += r["rounds"]
        llm_calls += r["llm_calls"]
        if found:
            per_cf_time.append(r["seconds"] / len(found))
        for cf in found:
            cfs += 1
            valid_cfs += all(v["passed"] for v in cf["verdicts"].values())
            refined += cf["source"] == CFSource.REFINE
            searched += cf["source"] == CFSource.SEARCH
            changed += len(cf["changes"])
            if "plausibility" in cf["verdicts"]:
                plausibility.append(cf["verdicts"]["plausibility"]["score"])
    return RunSummary(
        queries=n,
        success_rate=_ratio(succeeded, n),
        returned_cfs=cfs,
        returned_validity=_ratio(valid_cfs, cfs),
        llm_only_success_rate=_ratio(llm_succeeded, n),
        first_proposal_validity=_ratio(first_valid, n),
        llm_proposal_validity=_ratio(llm_valid, llm_props),
        parse_failure_rate=_ratio(parse_failures, llm_props),
        llm_proposal_actionable=_ratio(llm_actionable, llm_props),
        llm_proposal_plausible=_ratio(llm_plausible, llm_props),
        refined_share=_ratio(refined, cfs),
        search_share=_ratio(searched, cfs),
        mean_rounds=_ratio(rounds, n),
        mean_llm_calls=_ratio(llm_calls, n),
        mean_plausibility=_mean(plausibility),
        mean_sparsity=_ratio(changed, cfs),
        median_seconds_per_cf=float(statistics.median(per_cf_time))
        if per_cf_time
        else float("nan"),
        wall_seconds_per_cf=_ratio(wall_seconds, cfs) if wall_seconds is not None else None,
    )
