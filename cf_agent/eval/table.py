"""The method-by-metric table: per method, each metric's mean with a 95% confidence interval.

Pure functions of the judged results, so every number can be recomputed from rows.csv. Which
unit each metric averages over (requested slot, returned CF, valid CF or person) is part of
its definition; docs/evaluation.md lists them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence

from pydantic import BaseModel, Field

from cf_agent.agent.state import is_llm_source
from cf_agent.eval.judge import QueryResult, SlotResult
from cf_agent.tools.metrics import mean_ci


class Estimate(BaseModel):
    """A mean with its two-sided 95% t-interval over n units; None where n is 0."""

    mean: float | None = None
    low: float | None = None
    high: float | None = None
    n: int = 0


def estimate(values: Iterable[float | bool | None], upper: float | None = None) -> Estimate:
    """Mean and 95% CI of the values that are known (None and NaN are left out).

    Every metric here is non-negative and rates are at most `upper` (1), so the t-interval is
    cut to [0, upper]: with few people it can otherwise reach past what the metric can be.
    """
    known = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not known:
        return Estimate()
    mean, low, high = mean_ci(known)
    if math.isnan(low):
        return Estimate(mean=mean, n=len(known))
    return Estimate(
        mean=mean,
        low=max(low, 0.0),
        high=high if upper is None else min(high, upper),
        n=len(known),
    )


def rate(values: Iterable[float | bool | None]) -> Estimate:
    """estimate() of 0/1 values: a share with its interval inside [0, 1]."""
    return estimate(values, upper=1.0)


class MethodSummary(BaseModel):
    """One row of the table."""

    method: str
    is_llm: bool = Field(description="An LLM behind the agent loop, not a classic baseline.")
    queries: int = Field(description="People asked about.")
    requested: int = Field(description="CFs asked for: k per person.")
    returned: int = Field(description="CFs the method returned.")
    success: Estimate = Field(description="Per person: at least one CF passed all verifiers.")
    valid_success: Estimate = Field(description="Per person: at least one CF flips the model.")
    validity: Estimate = Field(description="Per requested CF: returned and flips the model.")
    plausibility: Estimate = Field(description="Per returned CF: passed plausibility.")
    actionable: Estimate = Field(description="Per returned CF: passed actionability.")
    immutable_violations: Estimate = Field(description="Per returned CF: immutables changed.")
    actionability_violations: Estimate = Field(
        description="Per returned CF: direction, max_change, range or type violations."
    )
    sparsity: Estimate = Field(description="Per returned CF: features changed.")
    l1_mad: Estimate = Field(description="Per returned CF: L1 distance in MAD units.")
    l2_range: Estimate = Field(description="Per returned CF: L2 distance on spec ranges.")
    diversity: Estimate = Field(description="Per person with 2+ CFs: mean pairwise L1/MAD.")
    ynn: Estimate = Field(description="Per returned CF: yNN (k = 5).")
    redundancy: Estimate = Field(description="Per valid CF: changes that were not needed.")
    refined: Estimate = Field(
        description="Per returned CF of an LLM method: written by the search (refinement or "
        "search from the person's row), not the LLM."
    )
    median_seconds_per_cf: float | None = Field(
        description="Median over people with a CF of (seconds / CFs returned)."
    )
    llm_calls: Estimate = Field(description="Per person: LLM calls.")


def _returned(results: Sequence[QueryResult]) -> list[SlotResult]:
    return [s for r in results for s in r.slots if s.returned]


def _per_cf(
    results: Sequence[QueryResult],
    value: Callable[[SlotResult], float | bool | None],
    upper: float | None = None,
) -> Estimate:
    return estimate((value(s) for s in _returned(results)), upper=upper)


def summarize_method(method: str, results: Sequence[QueryResult], is_llm: bool) -> MethodSummary:
    """Aggregate one method's judged results into the table's row."""
    slots = [s for r in results for s in r.slots]
    returned = _returned(results)
    per_cf_seconds = [r.seconds / n for r in results if (n := sum(s.returned for s in r.slots)) > 0]
    return MethodSummary(
        method=method,
        is_llm=is_llm,
        queries=len(results),
        requested=len(slots),
        returned=len(returned),
        success=rate(any(s.verified for s in r.slots) for r in results),
        valid_success=rate(any(bool(s.valid) for s in r.slots) for r in results),
        validity=rate(bool(s.valid) for s in slots),
        plausibility=_per_cf(results, lambda s: s.plausible, upper=1.0),
        actionable=_per_cf(results, lambda s: s.actionable, upper=1.0),
        immutable_violations=_per_cf(results, lambda s: s.immutable_violations),
        actionability_violations=_per_cf(results, lambda s: s.actionability_violations),
        sparsity=_per_cf(results, lambda s: s.n_changed),
        l1_mad=_per_cf(results, lambda s: s.l1_mad),
        l2_range=_per_cf(results, lambda s: s.l2_range),
        diversity=estimate(r.diversity for r in results),
        ynn=_per_cf(results, lambda s: s.ynn, upper=1.0),
        redundancy=_per_cf(results, lambda s: s.redundancy),
        refined=_per_cf(results, lambda s: not is_llm_source(s.source), upper=1.0),
        median_seconds_per_cf=statistics.median(per_cf_seconds) if per_cf_seconds else None,
        llm_calls=estimate(r.llm_calls for r in results),
    )
