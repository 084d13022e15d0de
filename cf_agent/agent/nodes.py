"""Graph nodes: small verb_noun(state, runtime) functions. Tool errors become feedback.

The run's services come as `runtime.context` (an AgentContext, read only); everything a query
learns goes into its state, which the checkpointer keeps.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from cf_agent.agent.context import AgentContext
from cf_agent.agent.state import Candidate, CFSource, CFState, is_llm_source
from cf_agent.proposers import CFRequest, Proposal
from cf_agent.tools.rationale import change_rationale
from cf_agent.tools.refine import provenance, refine
from cf_agent.tools.sensitivity import PROBES_SHOWN, probe_moves
from cf_agent.tools.verdict import Verdict

MAX_REFINE_STARTS = 3


def propose_counterfactuals(state: CFState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Ask the proposer for the CFs still missing, with the last round's feedback if any."""
    ctx = runtime.context
    wanted = state["k"] - len(state["accepted"])
    last = state["candidates"][-1] if state["candidates"] else None
    # Revising: probe from the rejected change, so the model sees where further moves take it.
    start = last["values"] if last else None
    probes = (
        probe_moves(ctx.model, ctx.spec, state["query"], top=PROBES_SHOWN - 1 + wanted, start=start)
        if ctx.hints
        else None
    )
    request = CFRequest(
        query_id=state["query_id"],
        row=state["query"],
        current_class=state["current_class"],
        desired_class=state["desired_class"],
        previous=last["values"] if last else None,
        feedback=last["feedback"] if last else "",
        avoid=[c["values"] for c in state["accepted"] if c["values"]],
        # Absent from checkpoints written before exemplars moved into the state.
        exemplars=[(e["person"], e["counterfactual"]) for e in state.get("exemplars", [])],
    )
    # k > 1: each request leads with a different hint, so even greedy decoding diverges.
    requests = [
        request.model_copy(update={"probes": probes.rotated(i) if probes else None})
        for i in range(wanted)
    ]
    proposals = ctx.proposer.propose(requests)
    for proposal in proposals:
        ctx.log(
            "proposal",
            state["query_id"],
            {"round": state["round"] + 1, **proposal.model_dump(mode="json")},
        )
    return {
        "pending": [p.model_dump(mode="json") for p in proposals],
        "round": state["round"] + 1,
        "llm_calls": state["llm_calls"] + (len(proposals) if ctx.proposer.is_llm else 0),
    }


def _feedback(proposal: Proposal, verdicts: list[Verdict]) -> str:
    lines = [f"- {proposal.error}"] if proposal.error else []
    lines += [v.feedback() for v in verdicts if not v.passed and v.reasons]
    return "\n".join(line for line in lines if line)


def _judge(
    ctx: AgentContext,
    state: CFState,
    proposal: Proposal,
    accepted: list[dict[str, Any]],
    llm_values: dict[str, Any] | None,
    start: str = "llm",
) -> Candidate:
    verdicts: list[Verdict] = []
    if proposal.values is not None:
        verdicts = ctx.verifiers.check(state["query"], proposal.values)
    passed = proposal.values is not None and all(v.passed for v in verdicts)
    if passed and proposal.values in accepted:
        passed = False
        proposal = proposal.model_copy(
            update={"error": "this counterfactual was already accepted: propose a different one"}
        )
    candidate = Candidate(
        round=state["round"],
        source=proposal.source,
        start=start,
        values=proposal.values,
        rationale=proposal.rationale,
        error=proposal.error,
        verdicts=[v.model_dump(mode="json") for v in verdicts],
        passed=passed,
        feedback="" if passed else _feedback(proposal, verdicts),
        provenance=(
            provenance(ctx.spec, state["query"], llm_values, proposal.values)
            if proposal.values is not None
            else {}
        ),
        latency_s=proposal.latency_s,
        tokens_out=proposal.tokens_out,
    )
    ctx.log(
        "verdict",
        state["query_id"],
        {
            "round": state["round"],
            "source": candidate["source"],
            "start": start,
            "passed": passed,
            "verdicts": candidate["verdicts"],
            "feedback": candidate["feedback"],
        },
    )
    return candidate


def verify_proposals(state: CFState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Run the three verifiers on each pending proposal; keep the ones that pass them all."""
    ctx = runtime.context
    accepted_values = [c["values"] for c in state["accepted"] if c["values"] is not None]
    judged: list[Candidate] = []
    for raw in state["pending"]:
        proposal = Proposal.model_validate(raw)
        candidate = _judge(ctx, state, proposal, accepted_values, proposal.values)
        if candidate["passed"] and candidate["values"] is not None:
            accepted_values.append(candidate["values"])
        judged.append(candidate)
    return {
        "pending": [],
        "candidates": judged,
        "accepted": [c for c in judged if c["passed"]],
    }


def _p_desired(candidate: Candidate) -> float:
    for verdict in candidate["verdicts"]:
        if verdict["check"] == "classifier":
            return float(verdict["score"])
    return -1.0


def refine_proposals(state: CFState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Refine the LLM's distinct failed proposals (best first), then search from the person's
    own row. Each CF says which: `refine` from `llm round N`, or `search` from `person`; its
    rationale describes its own change, never an LLM's text about other values."""
    ctx = runtime.context
    llm_failed = sorted(
        (c for c in state["candidates"] if c["values"] and is_llm_source(c["source"])),
        key=_p_desired,
        reverse=True,
    )
    starts: list[tuple[dict[str, Any], str, str, dict[str, Any] | None]] = []
    for c in llm_failed:
        if c["values"] is not None and all(c["values"] != s for s, _, _, _ in starts):
            starts.append((c["values"], CFSource.REFINE, f"llm round {c['round']}", c["values"]))
    starts = [*starts[:MAX_REFINE_STARTS], (state["query"], CFSource.SEARCH, "person", None)]
    accepted_values = [c["values"] for c in state["accepted"] if c["values"] is not None]
    judged: list[Candidate] = []
    wanted = state["k"] - len(state["accepted"])
    for start, source, label, llm_values in starts:
        if len(judged) >= wanted:
            break
        point = refine(ctx.spec, ctx.verifiers.classifier_check, state["query"], start)
        if point is None:
            continue
        proposal = Proposal(
            values=point,
            rationale=change_rationale(ctx.spec, state["query"], point),
            source=source,
        )
        result = _judge(ctx, state, proposal, accepted_values, llm_values, start=label)
        if result["passed"]:
            accepted_values.append(point)
            judged.append(result)
    return {"candidates": judged, "accepted": judged}


def finish_query(state: CFState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Close the query: accepted, partial (fewer than k) or gave up; log the outcome."""
    ctx = runtime.context
    n = len(state["accepted"])
    status = "accepted" if n >= state["k"] else ("partial" if n else "gave_up")
    ctx.log_outcome(
        "accepted" if n else "gave_up",
        state["query_id"],
        {
            "status": status,
            "rounds": state["round"],
            "llm_calls": state["llm_calls"],
            "accepted": [
                {
                    "values": c["values"],
                    "source": c["source"],
                    "start": c["start"],
                    "provenance": c["provenance"],
                }
                for c in state["accepted"]
            ],
        },
    )
    return {"status": status}


def route_after_verify(state: CFState, runtime: Runtime[AgentContext]) -> str:
    """accept when k CFs passed; revise while rounds remain; then refine (if on) or give up."""
    ctx = runtime.context
    if len(state["accepted"]) >= state["k"]:
        return "finish"
    if state["round"] < state["max_rounds"]:
        return "propose"
    return "refine" if ctx.refine and ctx.proposer.is_llm else "finish"
