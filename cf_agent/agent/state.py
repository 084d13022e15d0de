"""The graph's typed state: one query, every candidate with its verdicts, what was accepted.

Plain JSON-able values only, so LangGraph's SQLite checkpointer can store and resume it.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal

from typing_extensions import TypedDict

QueryStatus = Literal["running", "accepted", "partial", "gave_up"]


class CFSource(StrEnum):
    """Who wrote a CF's final values when no LLM did (an LLM's CF carries its model string)."""

    REFINE = "refine"  # the search continued from an LLM proposal
    SEARCH = "search"  # the search from the person's own row: no LLM input at all


def is_llm_source(source: str) -> bool:
    """Whether an LLM wrote these final values itself."""
    return source not in tuple(CFSource)


class Candidate(TypedDict):
    """One proposal after verification.

    `source` says who wrote the final values: the LLM (its model string), `refine` (the search
    continued from an LLM proposal) or `search` (the search from the person's own row, no LLM
    input). `start` says where refinement began: `llm round N` or `person`; for an LLM's own
    proposal it is `llm`.
    """

    round: int
    source: str
    start: str
    values: dict[str, Any] | None
    rationale: str
    error: str | None
    verdicts: list[dict[str, Any]]
    passed: bool
    feedback: str
    provenance: dict[str, str]
    latency_s: float
    tokens_out: int


class Exemplar(TypedDict):
    """Few-shot material: a person the run finished earlier and their first accepted CF."""

    person: dict[str, Any]
    counterfactual: dict[str, Any]


class CFState(TypedDict):
    """State of one query's run through the graph."""

    query_id: str
    query: dict[str, Any]
    current_class: int
    desired_class: int
    k: int
    max_rounds: int
    round: int
    llm_calls: int
    pending: list[dict[str, Any]]
    candidates: Annotated[list[Candidate], operator.add]
    accepted: Annotated[list[Candidate], operator.add]
    status: QueryStatus
    exemplars: list[Exemplar]  # chosen when the query starts, so a resume prompts with them


def initial_state(
    query_id: str,
    query: dict[str, Any],
    current_class: int,
    desired_class: int,
    k: int = 1,
    max_rounds: int = 4,
    exemplars: Sequence[Exemplar] = (),
) -> CFState:
    return CFState(
        query_id=query_id,
        query=query,
        current_class=current_class,
        desired_class=desired_class,
        k=k,
        max_rounds=max_rounds,
        round=0,
        llm_calls=0,
        pending=[],
        candidates=[],
        accepted=[],
        status="running",
        exemplars=list(exemplars),
    )
