"""Per-query result records: what `cf-agent run` writes, with human-readable changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cf_agent.agent.state import Candidate, CFState, is_llm_source
from cf_agent.data.spec import FeatureSpec

RESULT_SCHEMA_VERSION = 1


def describe_change(spec: FeatureSpec, name: str, before: Any, after: Any) -> str:
    """'steps +3,000 steps/day (8,200 -> 11,200)' or 'diet: usual -> low_carb'."""
    feature = spec.feature(name)
    if not feature.is_numeric:
        return f"{name}: {before} -> {after}"
    delta = float(after) - float(before)
    unit = f" {feature.unit}" if feature.unit else ""
    return f"{name} {delta:+,.4g}{unit} ({float(before):,.6g} -> {float(after):,.6g})"


def changes(spec: FeatureSpec, query: Mapping[str, Any], cf: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for feature in spec.features:
        before, after = query[feature.name], cf[feature.name]
        if before == after:
            continue
        entry: dict[str, Any] = {
            "from": before,
            "to": after,
            "text": describe_change(spec, feature.name, before, after),
        }
        if feature.is_numeric:
            entry["delta"] = float(after) - float(before)
            entry["unit"] = feature.unit
        out[feature.name] = entry
    return out


def _cf_record(spec: FeatureSpec, query: Mapping[str, Any], c: Candidate) -> dict[str, Any]:
    assert c["values"] is not None
    return {
        "values": c["values"],
        "changes": changes(spec, query, c["values"]),
        "source": c["source"],
        "start": c["start"],
        "provenance": c["provenance"],
        "round": c["round"],
        "rationale": c["rationale"],
        "verdicts": {
            v["check"]: {"passed": v["passed"], "score": v["score"]} for v in c["verdicts"]
        },
    }


def _passed(candidate: Candidate, check: str) -> bool:
    return any(v["check"] == check and v["passed"] for v in candidate["verdicts"])


def result_record(spec: FeatureSpec, state: CFState, seconds: float) -> dict[str, Any]:
    """One JSON-able line per query: status, accepted CFs with deltas, and the history's shape."""
    llm_candidates = [c for c in state["candidates"] if is_llm_source(c["source"])]
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "query_id": state["query_id"],
        "status": state["status"],
        "factual_class": state["current_class"],
        "desired_class": state["desired_class"],
        "k": state["k"],
        "rounds": state["round"],
        "llm_calls": state["llm_calls"],
        "seconds": round(seconds, 4),
        "first_proposal_valid": bool(llm_candidates and llm_candidates[0]["passed"]),
        "llm_proposals": len(llm_candidates),
        "llm_valid": sum(c["passed"] for c in llm_candidates),
        "parse_failures": sum(c["values"] is None for c in llm_candidates),
        "llm_passed_by_check": {
            check: sum(_passed(c, check) for c in llm_candidates)
            for check in ("classifier", "actionability", "plausibility")
        },
        "query": state["query"],
        "counterfactuals": [_cf_record(spec, state["query"], c) for c in state["accepted"]],
    }
