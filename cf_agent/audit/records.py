"""What the audit log holds: event types, stored events and runs, the chain's hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventType(StrEnum):
    """Event types with agreed meaning. A type is stored as its string, so others may appear."""

    RUN_STARTED = "run_started"
    RUN_RESUMED = "run_resumed"
    PROPOSAL = "proposal"
    VERDICT = "verdict"
    ACCEPTED = "accepted"
    GAVE_UP = "gave_up"
    REVIEW = "review"
    RUN_FINISHED = "run_finished"
    ERROR = "error"


RUNNING = "running"
GENESIS_HASH = "0" * 64


class AuditEvent(BaseModel):
    """One stored event, with the chain link that makes edits to it detectable."""

    model_config = ConfigDict(frozen=True)

    id: int = Field(description="Position in the file-wide chain, from 1.")
    run_id: str = Field(description="Run the event belongs to.")
    seq: int = Field(description="Position within its run, from 1 (run_started).")
    ts: str = Field(description="When it was written, ISO-8601 UTC.")
    type: str = Field(description="Event type, e.g. proposal, verdict, accepted.")
    query_id: str | None = Field(
        default=None, description="Query (row) the event concerns, if any."
    )
    payload: dict[str, Any] = Field(description="Scrubbed, JSON-safe event data.")
    prev_hash: str = Field(description="Hash of the previous event in the file, or the genesis.")
    hash: str = Field(description="sha256 of prev_hash and this event's canonical JSON.")

    def computed_hash(self) -> str:
        """The hash this event's content and link should have; differs from `hash` if edited."""
        return event_hash(
            self.prev_hash, self.run_id, self.seq, self.ts, self.type, self.query_id, self.payload
        )


class AuditRun(BaseModel):
    """One agent invocation: what ran, with which model and prompt, and how it ended."""

    model_config = ConfigDict(frozen=True)

    run_id: str = Field(description="Sortable id: start time in ms, then random characters.")
    started_at: str = Field(description="Start time, ISO-8601 UTC.")
    command: str = Field(description="Command line or subcommand that started the run.")
    model_string: str = Field(description="LLM backend and model, e.g. 'hf:Qwen/Qwen2.5-0.5B'.")
    prompt_name: str = Field(description="Name of the prompt template used.")
    prompt_hash: str = Field(description="Hash of the prompt template text.")
    config: dict[str, Any] = Field(description="Scrubbed run configuration.")
    status: str = Field(description="'running' until finish_run sets the final status.")


class VerifyResult(BaseModel):
    """Outcome of walking the hash chain: ok, or the first event whose link is broken."""

    model_config = ConfigDict(frozen=True)

    ok: bool = Field(description="True when every event links to the one before it.")
    events_checked: int = Field(description="Events found intact before the first broken link.")
    broken_event_id: int | None = Field(default=None, description="Id of the first bad event.")
    problem: str | None = Field(default=None, description="What is wrong with that event.")
    head_hash: str = Field(description="Hash of the last intact event; keep it as an anchor.")


def canonical_json(value: Any) -> str:
    """The one JSON text of a value: sorted keys, no spaces, so equal data hashes equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(
    prev_hash: str,
    run_id: str,
    seq: int,
    ts: str,
    type: str,
    query_id: str | None,
    payload: Mapping[str, Any],
) -> str:
    """sha256 of the previous hash followed by the canonical JSON of the event's content."""
    content = canonical_json(
        {
            "run_id": run_id,
            "seq": seq,
            "ts": ts,
            "type": type,
            "query_id": query_id,
            "payload": payload,
        }
    )
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()
