"""A run's story per query, rebuilt from the audit log alone: attempts, rounds, verdicts, decisions.

The agent logs a `proposal` per LLM answer, a `verdict` per judged candidate (refinement logs
verdicts without a proposal), then `accepted` or `gave_up`. People log `review` events. Nothing
here reads the data file: what the log holds is enough to show how the agent got its answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from cf_agent.agent.state import is_llm_source
from cf_agent.audit.store import (
    AuditEvent,
    AuditRun,
    AuditStore,
    EventType,
    canonical_json,
)
from cf_agent.tools.verdict import Verdict

ReviewState = Literal["accepted", "rejected", "unreviewed"]
_PERSON_MARKER = re.compile(r"current values \(JSON data, not instructions\):\s*")


class Step(BaseModel):
    """One candidate in one round: what was proposed and what the verifiers said."""

    round: int = Field(description="Agent round, from 1 within its attempt.")
    source: str = Field(description="Model string, or 'refine' for refinement.")
    values: dict[str, Any] | None = Field(description="The candidate row; None if unusable.")
    rationale: str = Field(default="", description="The proposer's explanation.")
    error: str | None = Field(default=None, description="Why the answer was unusable, if so.")
    raw_output: str = Field(default="", description="The model's raw answer.")
    prompt_name: str = Field(default="", description="Template used for the prompt.")
    tokens_out: int = Field(default=0, description="Generated tokens.")
    verdicts: list[Verdict] = Field(default_factory=list, description="One per verifier.")
    passed: bool | None = Field(default=None, description="None until a verdict arrives.")
    feedback: str = Field(default="", description="What was sent back to the proposer.")


class CounterfactualRecord(BaseModel):
    """A CF that passed every verifier when the agent accepted it."""

    values: dict[str, Any] = Field(description="The counterfactual row.")
    source: str = Field(description="Model string, 'refine', or 'reviewer' for an edit.")
    provenance: dict[str, str] = Field(default_factory=dict, description="Per feature: llm/refine.")
    verdicts: list[Verdict] = Field(default_factory=list, description="The verdicts it passed.")

    @property
    def key(self) -> str:
        return values_key(self.values)


class Outcome(BaseModel):
    """How an attempt ended: the agent's `accepted` or `gave_up` event."""

    status: str = Field(description="accepted, partial or gave_up.")
    rounds: int = Field(description="Rounds the attempt used.")
    llm_calls: int = Field(description="LLM calls the attempt made.")
    accepted: list[CounterfactualRecord] = Field(default_factory=list)
    ts: str = Field(description="When the attempt ended.")


class Attempt(BaseModel):
    """One pass of the agent over the query: the batch run, or one a reviewer asked for."""

    steps: list[Step] = Field(default_factory=list)
    outcome: Outcome | None = Field(default=None, description="None while still running.")
    requested_by: str | None = Field(default=None, description="Reviewer who asked for it.")


class Decision(BaseModel):
    """One `review` event: a person's accept, reject, edit, note or request for another CF."""

    event_id: int = Field(description="Audit event id.")
    ts: str = Field(description="When it was recorded.")
    action: str = Field(description="accept, reject, edit, note or request_cf.")
    reviewer: str = Field(description="Who decided.")
    reason: str | None = Field(default=None, description="Why, for a rejection.")
    note: str | None = Field(default=None, description="Free text, for a note.")
    values: dict[str, Any] | None = Field(default=None, description="The CF decided on.")
    verdicts: list[Verdict] = Field(default_factory=list, description="Its verdicts then.")
    source: str | None = Field(default=None, description="Where the CF came from.")


class QueryHistory(BaseModel):
    """Everything the log holds about one query (one person)."""

    query_id: str
    attempts: list[Attempt] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)
    factual_from_prompt: dict[str, Any] | None = Field(
        default=None, description="The person's row as the first prompt carried it, if any."
    )

    @property
    def outcome(self) -> Outcome | None:
        """The latest finished attempt's outcome."""
        done = [a.outcome for a in self.attempts if a.outcome is not None]
        return done[-1] if done else None

    @property
    def status(self) -> str:
        """The agent's latest verdict on this query: accepted, partial, gave_up or running."""
        outcome = self.outcome
        return outcome.status if outcome is not None else "running"

    @property
    def counterfactuals(self) -> list[CounterfactualRecord]:
        """Every CF the agent accepted for this person, first occurrence kept, in order."""
        seen: dict[str, CounterfactualRecord] = {}
        for attempt in self.attempts:
            if attempt.outcome is None:
                continue
            for cf in attempt.outcome.accepted:
                seen.setdefault(cf.key, cf)
        return list(seen.values())

    @property
    def verdict_decisions(self) -> list[Decision]:
        return [d for d in self.decisions if d.action in ("accept", "reject")]

    @property
    def review_state(self) -> ReviewState:
        """The latest accept or reject for this query, whichever CF it concerned."""
        latest = self.verdict_decisions
        if not latest:
            return "unreviewed"
        return "accepted" if latest[-1].action == "accept" else "rejected"

    def review_of(self, values: Mapping[str, Any]) -> Decision | None:
        """The latest accept or reject of exactly this CF."""
        key = values_key(values)
        for decision in reversed(self.verdict_decisions):
            if decision.values is not None and values_key(decision.values) == key:
                return decision
        return None

    def best_failed_step(self) -> Step | None:
        """The latest attempt's usable candidate the classifier liked best (for a gave-up)."""
        if not self.attempts:
            return None
        usable = [s for s in self.attempts[-1].steps if s.values is not None]
        return max(usable, key=classifier_score, default=None)


class RunHistory(BaseModel):
    """A run and its queries in the order the agent met them."""

    run: AuditRun
    queries: dict[str, QueryHistory] = Field(default_factory=dict)

    @property
    def finished(self) -> list[QueryHistory]:
        return [q for q in self.queries.values() if q.outcome is not None]

    @property
    def success_rate(self) -> float | None:
        """Share of finished queries with at least one accepted CF; None before any finished."""
        finished = self.finished
        if not finished:
            return None
        return sum(bool(q.counterfactuals) for q in finished) / len(finished)

    @property
    def reviewed(self) -> int:
        return sum(q.review_state != "unreviewed" for q in self.queries.values())

    @property
    def planned(self) -> int:
        """Queries the run planned (from its config), or those seen when it did not say."""
        planned = self.run.config.get("queries")
        return int(planned) if isinstance(planned, int) else len(self.queries)


def values_key(values: Mapping[str, Any]) -> str:
    """One text per CF row, so equal rows compare equal whatever their key order."""
    return canonical_json(dict(values))


def classifier_score(step: Step) -> float:
    for verdict in step.verdicts:
        if verdict.check == "classifier":
            return verdict.score
    return -1.0


def factual_from_prompt(prompt: object) -> dict[str, Any] | None:
    """The person's row from a rendered prompt's 'current values' data block, if it has one."""
    if not isinstance(prompt, list):
        return None
    for message in prompt:
        content = message.get("content", "") if isinstance(message, dict) else ""
        match = _PERSON_MARKER.search(content) if isinstance(content, str) else None
        if match is None:
            continue
        try:
            row, _ = json.JSONDecoder().raw_decode(content, match.end())
        except json.JSONDecodeError:
            return None
        return row if isinstance(row, dict) else None
    return None


def _verdicts(raw: object) -> list[Verdict]:
    return [Verdict.model_validate(v) for v in raw] if isinstance(raw, list) else []


class _QueryBuilder:
    """Folds one query's events, in chain order, into its attempts and decisions."""

    def __init__(self, query_id: str) -> None:
        self.history = QueryHistory(query_id=query_id)

    def _current(self) -> Attempt:
        attempts = self.history.attempts
        if not attempts or attempts[-1].outcome is not None:
            attempts.append(Attempt())
        return attempts[-1]

    def add(self, event: AuditEvent) -> None:
        payload = event.payload
        if event.type == EventType.REVIEW:
            self._add_decision(event)
        elif event.type == EventType.PROPOSAL:
            self._add_proposal(payload)
        elif event.type == EventType.VERDICT:
            self._add_verdict(payload)
        elif event.type in (EventType.ACCEPTED, EventType.GAVE_UP):
            self._add_outcome(event)

    def _add_decision(self, event: AuditEvent) -> None:
        payload = event.payload
        decision = Decision(
            event_id=event.id,
            ts=event.ts,
            action=str(payload.get("action", "")),
            reviewer=str(payload.get("reviewer", "")),
            reason=payload.get("reason"),
            note=payload.get("note"),
            values=payload.get("values"),
            verdicts=_verdicts(payload.get("verdicts")),
            source=payload.get("source"),
        )
        self.history.decisions.append(decision)
        if decision.action == "request_cf":
            self.history.attempts.append(Attempt(requested_by=decision.reviewer))

    def _add_proposal(self, payload: dict[str, Any]) -> None:
        if self.history.factual_from_prompt is None:
            self.history.factual_from_prompt = factual_from_prompt(payload.get("prompt"))
        self._current().steps.append(
            Step(
                round=int(payload.get("round", 0)),
                source=str(payload.get("source", "")),
                values=payload.get("values"),
                rationale=str(payload.get("rationale") or ""),
                error=payload.get("error"),
                raw_output=str(payload.get("raw_output") or ""),
                prompt_name=str(payload.get("prompt_name") or ""),
                tokens_out=int(payload.get("tokens_out") or 0),
            )
        )

    def _add_verdict(self, payload: dict[str, Any]) -> None:
        attempt = self._current()
        round_, source = int(payload.get("round", 0)), str(payload.get("source", ""))
        step = next(
            (
                s
                for s in attempt.steps
                if s.passed is None and s.round == round_ and s.source == source
            ),
            None,
        )
        if step is None:  # refinement judges points it never logged as proposals
            step = Step(round=round_, source=source, values=None)
            attempt.steps.append(step)
        step.verdicts = _verdicts(payload.get("verdicts"))
        step.passed = bool(payload.get("passed"))
        step.feedback = str(payload.get("feedback") or "")

    def _add_outcome(self, event: AuditEvent) -> None:
        attempt = self._current()
        payload = event.payload
        accepted = []
        # Refinement logs a verdict but not the point it judged; the outcome names the point.
        unnamed_refined = [s for s in attempt.steps if s.values is None and s.passed]
        for raw in payload.get("accepted") or []:
            values = raw.get("values")
            if not isinstance(values, dict):
                continue
            step = next((s for s in attempt.steps if s.passed and s.values == values), None)
            if step is None and not is_llm_source(str(raw.get("source"))) and unnamed_refined:
                step = unnamed_refined.pop(0)
                step.values = values
            accepted.append(
                CounterfactualRecord(
                    values=values,
                    source=str(raw.get("source", "")),
                    provenance=raw.get("provenance") or {},
                    verdicts=step.verdicts if step is not None else self._known_verdicts(values),
                )
            )
        attempt.outcome = Outcome(
            status=str(payload.get("status", event.type)),
            rounds=int(payload.get("rounds", 0)),
            llm_calls=int(payload.get("llm_calls", 0)),
            accepted=accepted,
            ts=event.ts,
        )

    def _known_verdicts(self, values: dict[str, Any]) -> list[Verdict]:
        """Verdicts of a CF accepted in an earlier attempt (a rerun lists it again)."""
        for cf in self.history.counterfactuals:
            if cf.values == values:
                return cf.verdicts
        return []


def build_run_history(run: AuditRun, events: Iterable[AuditEvent]) -> RunHistory:
    """Group a run's events by query, in the order queries first appear."""
    builders: dict[str, _QueryBuilder] = {}
    for event in events:
        if event.query_id is None or event.run_id != run.run_id:
            continue
        builder = builders.get(event.query_id)
        if builder is None:
            builder = builders[event.query_id] = _QueryBuilder(event.query_id)
        builder.add(event)
    return RunHistory(run=run, queries={qid: b.history for qid, b in builders.items()})


def load_run_history(store: AuditStore, run_id: str) -> RunHistory:
    return build_run_history(store.run(run_id), store.iter_events(run_id=run_id))


def load_run_overviews(store: AuditStore) -> list[RunHistory]:
    """Every run with its outcomes and decisions only (no proposals): enough for a run list."""
    events = sorted(
        (
            e
            for kind in (EventType.ACCEPTED, EventType.GAVE_UP, EventType.REVIEW)
            for e in store.iter_events(type=kind)
        ),
        key=lambda e: e.id,
    )
    by_run: dict[str, list[AuditEvent]] = {}
    for event in events:
        by_run.setdefault(event.run_id, []).append(event)
    return [build_run_history(run, by_run.get(run.run_id, [])) for run in store.runs()]


def load_query_history(store: AuditStore, run_id: str, query_id: str) -> QueryHistory:
    builder = _QueryBuilder(query_id)
    for event in store.iter_events(run_id=run_id, query_id=query_id):
        builder.add(event)
    return builder.history
