"""The graph's typed state: one query, every candidate with its verdicts, what was accepted.

Plain JSON-able values only, so LangGraph's SQLite checkpointer can store and resume it.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

from typing_extensions import TypedDict

QueryStatus = Literal["running", "accepted", "partial", "gave_up"]


class Candidate(TypedDict):
    """One proposal after verification."""

    round: int
    source: str
    values: dict[str, Any] | None
    rationale: str
    error: str | None
    verdicts: list[dict[str, Any]]
    passed: bool
    feedback: str
    provenance: dict[str, str]
    latency_s: float
    tokens_out: int


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


def initial_state(
    query_id: str,
    query: dict[str, Any],
    current_class: int,
    desired_class: int,
    k: int = 1,
    max_rounds: int = 4,
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
    )
