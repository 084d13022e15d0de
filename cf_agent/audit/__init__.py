"""Audit log: an append-only, hash-chained SQLite record of what the agent did and why.

Event types the agent writes (free strings; these have agreed meaning):
run_started, proposal (an LLM candidate CF), verdict (one verifier's result), accepted (a CF that
passed every check), gave_up (no valid CF within the budget), review (a person's judgement),
run_finished, error.
"""

from __future__ import annotations

from cf_agent.audit.export import export_events
from cf_agent.audit.migrations import AuditError, migrate
from cf_agent.audit.store import (
    ACCEPTED,
    ERROR,
    GAVE_UP,
    GENESIS_HASH,
    PROPOSAL,
    REVIEW,
    RUN_FINISHED,
    RUN_STARTED,
    VERDICT,
    AuditEvent,
    AuditRun,
    AuditStore,
    VerifyResult,
)

__all__ = [
    "ACCEPTED",
    "ERROR",
    "GAVE_UP",
    "GENESIS_HASH",
    "PROPOSAL",
    "REVIEW",
    "RUN_FINISHED",
    "RUN_STARTED",
    "VERDICT",
    "AuditError",
    "AuditEvent",
    "AuditRun",
    "AuditStore",
    "VerifyResult",
    "export_events",
    "migrate",
]
