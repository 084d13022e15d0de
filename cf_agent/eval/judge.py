"""Score one method's counterfactuals for one person: the same verifiers and metrics for all.

Every method's output, the agent's verified CFs and a baseline's raw ones alike, goes through
cf-agent's verifiers and the metric functions of `cf_agent.tools.metrics`. The result is a
plain record (JSON-able, journalled) from which the tables are computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from cf_agent.agent.records import changes
from cf_agent.data.spec import FeatureSpec
from cf_agent.models.classifier import ClassifierBundle
from cf_agent.proposers import Proposal
from cf_agent.tools import metrics
from cf_agent.tools.actionability import unusable_reasons
from cf_agent.tools.classifier_check import rows_to_frame
from cf_agent.tools.verdict import Verdict
from cf_agent.tools.verifiers import Verifiers


class SlotResult(BaseModel):
    """One of the k counterfactuals asked of a method for one person, and how it scored."""

    cf_index: int = Field(description="Position among the k CFs asked for (0-based).")
    returned: bool = Field(description="The method returned a row for this slot.")
    values: dict[str, Any] | None = Field(default=None, description="The CF's feature row.")
    error: str | None = Field(default=None, description="Why nothing was returned.")
    source: str = Field(
        description="Method or model that wrote it; 'refine' or 'search' if the search did."
    )
    valid: bool | None = Field(default=None, description="The classifier check passed.")
    p_desired: float | None = Field(default=None, description="p(desired class) for the CF.")
    actionable: bool | None = Field(default=None, description="The actionability check passed.")
    immutable_violations: int | None = Field(
        default=None, description="Actionability reasons about immutable features."
    )
    actionability_violations: int | None = Field(
        default=None, description="Other actionability reasons (direction, max_change, range)."
    )
    plausible: bool | None = Field(default=None, description="The plausibility check passed.")
    plausibility_score: float | None = Field(default=None, description="Calibrated typicality.")
    verified: bool = Field(default=False, description="All three checks passed.")
    n_changed: int | None = Field(default=None, description="Features changed (L0).")
    l1_mad: float | None = Field(default=None, description="L1 distance in MAD units.")
    l2_range: float | None = Field(default=None, description="L2 distance on spec ranges.")
    ynn: float | None = Field(default=None, description="Share of 5 nearest train rows agreeing.")
    redundancy: int | None = Field(default=None, description="Changes not needed (valid CFs).")
    changes: str = Field(default="", description="Changes in words, with units.")


class QueryResult(BaseModel):
    """A method's result for one person: the k slots and what the whole search cost."""

    method: str
    query_id: str
    query: dict[str, Any] = Field(description="The person's factual feature row.")
    seconds: float = Field(description="Wall time the method spent on this person.")
    llm_calls: int = Field(default=0, description="LLM calls made for this person.")
    diversity: float | None = Field(
        default=None, description="Mean pairwise L1/MAD distance of the returned CFs (k > 1)."
    )
    slots: list[SlotResult]


def _verdict(verdicts: Sequence[Verdict], check: str) -> Verdict:
    return next(v for v in verdicts if v.check == check)


class CFJudge:
    """Verifies and measures CFs; learns MAD scales and model labels of the training rows once."""

    def __init__(
        self,
        spec: FeatureSpec,
        verifiers: Verifiers,
        model: ClassifierBundle,
        train_features: pd.DataFrame,
    ) -> None:
        self.spec = spec
        self.verifiers = verifiers
        self.model = model
        self.train_features = train_features[spec.feature_names]
        self.mad_ = metrics.mad_scales(spec, self.train_features)
        self.train_labels_ = model.predict(self.train_features)

    def judge(
        self,
        method: str,
        query_id: str,
        query: Mapping[str, Any],
        proposals: Sequence[Proposal],
        k: int,
        seconds: float,
        llm_calls: int = 0,
    ) -> QueryResult:
        """Score up to k proposals; slots the method left empty count as not returned."""
        slots = [self._slot(i, query, p) for i, p in enumerate(proposals[:k])]
        for i in range(len(slots), k):
            missing = f"{method} returned {len(slots)} of {k} counterfactuals"
            slots.append(SlotResult(cf_index=i, returned=False, error=missing, source=method))
        usable = [s.values for s in slots if s.values is not None and s.n_changed is not None]
        diversity = metrics.diversity(self.spec, usable, self.mad_) if len(usable) > 1 else None
        return QueryResult(
            method=method,
            query_id=query_id,
            query=dict(query),
            seconds=seconds,
            llm_calls=llm_calls,
            diversity=diversity,
            slots=slots,
        )

    def _slot(self, index: int, query: Mapping[str, Any], proposal: Proposal) -> SlotResult:
        values = proposal.values
        if values is None:
            return SlotResult(
                cf_index=index,
                returned=False,
                error=proposal.error or "no counterfactual",
                source=proposal.source,
            )
        verdicts = self.verifiers.check(query, values)
        classifier = _verdict(verdicts, "classifier")
        actionability = _verdict(verdicts, "actionability")
        plausibility = _verdict(verdicts, "plausibility")
        immutable = {f.name for f in self.spec.features if f.actionability == "immutable"}
        n_immutable = sum(r.feature in immutable for r in actionability.reasons)
        slot = SlotResult(
            cf_index=index,
            returned=True,
            values=dict(values),
            source=proposal.source,
            valid=classifier.passed,
            p_desired=classifier.score if "p_desired" in classifier.details else None,
            actionable=actionability.passed,
            immutable_violations=n_immutable,
            actionability_violations=len(actionability.reasons) - n_immutable,
            plausible=plausibility.passed,
            plausibility_score=plausibility.score,
            verified=all(v.passed for v in verdicts),
        )
        if unusable_reasons(self.spec, values):
            return slot  # wrong types or missing features: no distance can be measured
        return slot.model_copy(update=self._measures(query, values, classifier.passed))

    def _measures(
        self, query: Mapping[str, Any], values: Mapping[str, Any], valid: bool
    ) -> dict[str, Any]:
        spec = self.spec
        label = self.model.predict(rows_to_frame(spec, [values]))
        # The classifier check passing means the desired class wins, so redundancy is defined.
        redundancy = metrics.redundancy(spec, self.model, query, values) if valid else None
        described = changes(spec, query, values)
        return {
            "n_changed": metrics.sparsity_count(spec, query, values),
            "l1_mad": metrics.proximity_l1_mad(spec, query, values, self.mad_),
            "l2_range": metrics.proximity_l2_range(spec, query, values),
            "ynn": metrics.ynn(spec, [values], label, self.train_features, self.train_labels_),
            "redundancy": redundancy,
            "changes": "; ".join(entry["text"] for entry in described.values()),
        }
