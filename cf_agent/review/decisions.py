"""A reviewer's decisions, appended to the audit log beside the agent's own events.

Each decision is one `review` event: who (from the environment, or given), what (accept,
reject, edit, note, request_cf), why (reason or note), and the CF with its verdicts at the time.
The event's timestamp says when; the hash chain keeps it from being changed later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from cf_agent.audit.store import AuditEvent, AuditStore, EventType
from cf_agent.errors import CfAgentError
from cf_agent.tools.verdict import Verdict

ReviewAction = Literal["accept", "reject", "edit", "note", "request_cf"]
REVIEWER_ENV = "CF_AGENT_REVIEWER"
REVIEWER_SOURCE = "reviewer"


class ReviewDecision(BaseModel):
    """The payload of one `review` event."""

    action: ReviewAction = Field(description="What the reviewer did.")
    reviewer: str = Field(min_length=1, description="Who did it.")
    reason: str | None = Field(default=None, description="Why a CF was rejected.")
    note: str | None = Field(default=None, description="A free-text note.")
    values: dict[str, Any] | None = Field(default=None, description="The CF concerned.")
    verdicts: list[Verdict] | None = Field(default=None, description="Its verdicts then.")
    source: str | None = Field(
        default=None, description="Where the CF came from: a model string, 'refine', 'reviewer'."
    )


def reviewer_name(override: str | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """The name recorded with decisions: the override, CF_AGENT_REVIEWER, USER, LOGNAME."""
    for candidate in (
        override,
        environ.get(REVIEWER_ENV),
        environ.get("USER"),
        environ.get("LOGNAME"),
    ):
        if candidate and candidate.strip():
            return candidate.strip()
    raise CfAgentError(
        "cannot tell who is reviewing: no --reviewer, CF_AGENT_REVIEWER, USER or LOGNAME",
        f"pass --reviewer NAME or set {REVIEWER_ENV}",
    )


def record_decision(
    store: AuditStore,
    run_id: str,
    query_id: str,
    action: ReviewAction,
    reviewer: str,
    *,
    reason: str | None = None,
    note: str | None = None,
    values: Mapping[str, Any] | None = None,
    verdicts: Sequence[Verdict] | None = None,
    source: str | None = None,
) -> AuditEvent:
    """Append one decision; a rejection needs a reason and a note needs text."""
    if action == "reject" and not (reason and reason.strip()):
        raise CfAgentError("a rejection needs a reason", "say why the CF is not acceptable")
    if action == "note" and not (note and note.strip()):
        raise CfAgentError("a note needs some text", "type the note before saving it")
    if action in ("accept", "reject", "edit") and values is None:
        raise CfAgentError(f"{action} needs the CF it concerns", "open a query with a CF first")
    decision = ReviewDecision(
        action=action,
        reviewer=reviewer,
        reason=reason.strip() if reason else None,
        note=note.strip() if note else None,
        values=dict(values) if values is not None else None,
        verdicts=list(verdicts) if verdicts is not None else None,
        source=source,
    )
    return store.append(
        run_id, EventType.REVIEW, decision.model_dump(mode="json", exclude_none=True), query_id
    )
