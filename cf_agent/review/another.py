"""Ask the agent for one more CF for one person, with the run's model, prompts and options.

The graph runs as in `cf-agent run`, logging to the same run in the audit log, but without a
checkpointer (one query, run while the reviewer waits). CFs already known for the person are
seeded as accepted, so the proposer is told to avoid them and duplicates are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from cf_agent.agent.context import AgentContext
from cf_agent.agent.graph import build_graph
from cf_agent.agent.state import Candidate, CFState, initial_state
from cf_agent.audit.store import AuditStore
from cf_agent.proposers import Proposer
from cf_agent.review.history import CounterfactualRecord
from cf_agent.review.materials import RunMaterials
from cf_agent.tools.classifier_check import rows_to_frame

ProposerFactory = Callable[[RunMaterials], Proposer]
Progress = Callable[[int, int, str], None]  # round, max rounds, what is happening


class RerunContext(AgentContext):
    """Logs every outcome: a rerun is a new attempt with an outcome of its own.

    The batch run logs one outcome per query (a resumed finish node must not log twice); a
    rerun has no checkpointer, so its finish node runs once, after the run's own outcome.
    """

    def log_outcome(self, event_type: str, query_id: str, payload: dict[str, Any]) -> None:
        self.log(event_type, query_id, payload)


def run_proposer(materials: RunMaterials) -> Proposer:
    """The proposer the run used: its model string, prompts and backend options."""
    # The LLM stack (torch, transformers) loads only when a reviewer asks for another CF.
    from cf_agent.models.llm.proposer import LLMProposer
    from cf_agent.models.registry import load_backend
    from cf_agent.prompts.render import load_prompts

    config = materials.config
    backend = load_backend(
        str(config.get("model", materials.run.model_string)),
        base_url=config.get("base_url"),
        batch_size=int(config.get("batch_size") or 8),
        concurrency=int(config.get("concurrency") or 4),
    )
    return LLMProposer(
        backend,
        materials.spec,
        *load_prompts(str(config.get("prompt", "zero_shot")), config.get("revise_prompt")),
    )


def _seed(cf: CounterfactualRecord) -> Candidate:
    return Candidate(
        round=0,
        source=cf.source,
        start="reviewed",
        values=cf.values,
        rationale="",
        error=None,
        verdicts=[v.model_dump(mode="json") for v in cf.verdicts],
        passed=True,
        feedback="",
        provenance=cf.provenance,
        latency_s=0.0,
        tokens_out=0,
    )


def _describe(state: CFState, seeded: int) -> str:
    new = len(state["accepted"]) - seeded
    if state["status"] != "running":
        return f"finished: {state['status']} after {state['round']} round(s), {new} new CF(s)"
    checked = len(state["candidates"])
    return f"round {state['round']} of {state['max_rounds']}: {checked} candidate(s) checked"


def another_counterfactual(
    materials: RunMaterials,
    audit_path: Path,
    query_id: str,
    factual: dict[str, Any],
    known: Sequence[CounterfactualRecord],
    proposer: Proposer,
    progress: Progress | None = None,
) -> CFState:
    """Run the graph for one more CF than `known`; events go to the run in `audit_path`."""
    spec, bundle = materials.spec, materials.bundle
    config = materials.config
    current_class = int(bundle.predict(rows_to_frame(spec, [factual]))[0])
    state = initial_state(
        query_id,
        factual,
        current_class,
        spec.desired_class,
        k=len(known) + 1,
        max_rounds=int(config.get("max_rounds") or 4),
    )
    state["accepted"] = [_seed(cf) for cf in known]
    final: CFState = state
    with AuditStore(audit_path) as audit:
        context = RerunContext(
            spec=spec,
            proposer=proposer,
            verifiers=materials.verifiers,
            model=bundle,
            audit=audit,
            run_id=materials.run.run_id,
            refine=bool(config.get("refine", True)),
            hints=bool(config.get("hints", True)),
        )
        graph = build_graph()
        for values in graph.stream(state, context=context, stream_mode="values"):
            final = cast(CFState, values)
            if progress is not None:
                progress(final["round"], final["max_rounds"], _describe(final, len(known)))
    return final
