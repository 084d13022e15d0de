"""Held-out first-proposal validity of an adapter: what fine-tuning tracks to keep the best one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cf_agent.agent.queries import Query
from cf_agent.finetune.examples import PromptRenderer
from cf_agent.models.llm.local import TransformersBackend
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.tools.verifiers import Verifiers

ProgressFn = Callable[[str, int, int, str], None]


def validity_fn(
    model_path: str,
    device: str | None,
    renderer: PromptRenderer,
    verifiers: Verifiers,
    people: list[Query],
    say: ProgressFn,
) -> Callable[[Path], float] | None:
    """Held-out first-proposal validity of an adapter: the share of `people` whose first
    proposal (first-round prompt, no refinement) passes every verifier."""
    if not people:
        return None
    requests = [renderer.request(q) for q in people]

    def measure(adapter: Path) -> float:
        backend = TransformersBackend("adapted", model_path, adapter_path=adapter, device=device)
        proposer = LLMProposer(backend, renderer.spec, renderer.initial, renderer.revise)
        proposals = proposer.propose(requests)
        passed = sum(
            p.values is not None and Verifiers.all_passed(verifiers.check(q.row, p.values))
            for q, p in zip(people, proposals, strict=True)
        )
        say("validity", passed, len(people), "first proposals valid on held-out people")
        return passed / len(people)

    return measure
