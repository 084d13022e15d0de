"""Audit log: an append-only, hash-chained SQLite record of what the agent did and why.

Event types the agent writes (free strings; these have agreed meaning):
run_started, proposal (an LLM candidate CF), verdict (one verifier's result), accepted (a CF that
passed every check), gave_up (no valid CF within the budget), review (a person's judgement),
run_finished, error.
"""

from __future__ import annotations

from cf_agent.audit.export import export_events
from cf_agent.audit.migrations import AuditError, migrate
from cf_agent.audit.records import GENESIS_HASH, AuditEvent, AuditRun, EventType, VerifyResult
from cf_agent.audit.store import AuditStore

__all__ = [
    "GENESIS_HASH",
    "AuditError",
    "AuditEvent",
    "AuditRun",
    "AuditStore",
    "EventType",
    "VerifyResult",
    "export_events",
    "migrate",
]
