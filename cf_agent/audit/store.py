"""Append-only, hash-chained audit log of agent runs in one SQLite file.

Each event's hash covers the previous event's hash, in one chain across the whole file, so an edit,
deletion or reordering of any stored event breaks the chain at that event. Triggers refuse UPDATE
and DELETE through SQL; the chain catches edits made around them (triggers dropped, raw file edits).
Someone who rewrites every hash from an edit onward is caught only against an outside anchor: keep
`verify().head_hash` somewhere else if that matters.

Payloads are made JSON-safe and scrubbed of secrets before they are hashed and stored.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cf_agent.audit.migrations import AuditError, migrate, write_transaction
from cf_agent.audit.records import (
    GENESIS_HASH,
    RUNNING,
    AuditEvent,
    AuditRun,
    EventType,
    VerifyResult,
    canonical_json,
    event_hash,
)
from cf_agent.audit.scrub import SecretScrubber, to_json_value

# The records' names stay importable from here: most callers take them with AuditStore.
__all__ = [
    "GENESIS_HASH",
    "AuditError",
    "AuditEvent",
    "AuditRun",
    "AuditStore",
    "EventType",
    "VerifyResult",
    "canonical_json",
    "new_run_id",
]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_EVENT_COLUMNS = "id, run_id, seq, ts, type, query_id, payload_json, prev_hash, hash"
_WAL_RETRY_S = 0.02  # between journal-mode switch attempts while another writer holds the lock
_RUN_COLUMNS = (
    "run_id, started_at, command, model_string, prompt_name, prompt_hash, config_json, status"
)


def new_run_id() -> str:
    """ULID-like id: 10 characters of Unix milliseconds, 8 random ones; sorts by start time."""
    return _base32(time.time_ns() // 1_000_000, 10) + _base32(secrets.randbits(40), 8)


def _base32(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        chars.append(_CROCKFORD[number & 31])
        number >>= 5
    return "".join(reversed(chars))


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class AuditStore:
    """One connection to an audit log file; one per process, or one per thread unless the
    threads take turns (the agent's parallel queries log through AgentContext's lock).

    Appends from several processes are safe: each takes the write lock (BEGIN IMMEDIATE) before
    reading the chain's last hash, so the chain never forks.
    """

    def __init__(self, path: Path | str, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.scrubber = SecretScrubber()
        self._conn = _open(self.path, busy_timeout_s)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def register_secret(self, value: str) -> None:
        """Redact `value` (e.g. an API key read from the environment) from everything stored."""
        self.scrubber.register(value)

    def start_run(
        self,
        command: str,
        model_string: str,
        prompt_name: str,
        prompt_hash: str,
        config: Mapping[str, Any],
    ) -> str:
        """Record a new run and its run_started event; return the run id."""
        run_id = new_run_id()
        command = self.scrubber.scrub_text(command)
        clean_config = self._clean(config)
        with write_transaction(self._conn) as conn:
            conn.execute(
                f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    _utc_now(),
                    command,
                    model_string,
                    prompt_name,
                    prompt_hash,
                    canonical_json(clean_config),
                    RUNNING,
                ),
            )
            payload = {
                "command": command,
                "model_string": model_string,
                "prompt_name": prompt_name,
                "prompt_hash": prompt_hash,
                "config": clean_config,
            }
            self._insert(conn, run_id, EventType.RUN_STARTED, payload, None)
        return run_id

    def append(
        self, run_id: str, type: str, payload: Mapping[str, Any], query_id: str | None = None
    ) -> AuditEvent:
        """Scrub `payload` and add it as the next event of `run_id` and of the file's chain."""
        clean = self._clean(payload)
        with write_transaction(self._conn) as conn:
            return self._insert(conn, run_id, type, clean, query_id)

    def finish_run(self, run_id: str, status: str) -> AuditEvent:
        """Set the run's final status (once) and append its run_finished event."""
        with write_transaction(self._conn) as conn:
            current = self._run_row(run_id)[7]
            if current != RUNNING:
                raise AuditError(
                    f"run {run_id} in {self.path} already finished with status {current!r}",
                    "start a new run instead of finishing this one again",
                )
            conn.execute("UPDATE runs SET status = ? WHERE run_id = ?", (status, run_id))
            return self._insert(conn, run_id, EventType.RUN_FINISHED, {"status": status}, None)

    def runs(self) -> list[AuditRun]:
        """All runs, oldest first."""
        rows = self._conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY rowid")
        return [_run_from_row(row) for row in rows]

    def run(self, run_id: str) -> AuditRun:
        return _run_from_row(self._run_row(run_id))

    def events(
        self,
        run_id: str | None = None,
        type: str | None = None,
        query_id: str | None = None,
        search: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Events in chain order matching every given filter; see `iter_events`."""
        return list(self.iter_events(run_id, type, query_id, search, limit))

    def iter_events(
        self,
        run_id: str | None = None,
        type: str | None = None,
        query_id: str | None = None,
        search: str | None = None,
        limit: int | None = None,
    ) -> Iterator[AuditEvent]:
        """Stream events in chain order. `search` is a substring of the payload's JSON text
        (case-insensitive for ASCII); `limit` keeps the first that many."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, wanted in (("run_id", run_id), ("type", type), ("query_id", query_id)):
            if wanted is not None:
                clauses.append(f"{column} = ?")
                params.append(wanted)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("payload_json LIKE ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        sql = f"SELECT {_EVENT_COLUMNS} FROM events"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        for row in self._conn.execute(sql, params):
            yield self._event_from_row(row)

    def verify(self) -> VerifyResult:
        """Walk the chain from the genesis; report the first event that does not link up."""
        expected_id, expected_prev, checked = 1, GENESIS_HASH, 0
        for row in self._conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY id"):
            problem = _link_problem(row, expected_id, expected_prev)
            if problem is not None:
                return VerifyResult(
                    ok=False,
                    events_checked=checked,
                    broken_event_id=row[0],
                    problem=problem,
                    head_hash=expected_prev,
                )
            expected_id, expected_prev, checked = row[0] + 1, row[8], checked + 1
        last_id = self._conn.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'events'"
        ).fetchone()[0]
        if last_id >= expected_id:
            return VerifyResult(
                ok=False,
                events_checked=checked,
                broken_event_id=expected_id,
                problem=f"events {expected_id}..{last_id} were deleted from the end of the log",
                head_hash=expected_prev,
            )
        return VerifyResult(ok=True, events_checked=checked, head_hash=expected_prev)

    def _clean(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = self.scrubber.scrub(to_json_value(payload))
        return clean

    def _insert(
        self,
        conn: sqlite3.Connection,
        run_id: str,
        type: str,
        payload: dict[str, Any],
        query_id: str | None,
    ) -> AuditEvent:
        """Link and insert one event; the caller holds the write transaction."""
        self._run_row(run_id)
        last = conn.execute("SELECT hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        prev_hash = last[0] if last else GENESIS_HASH
        seq = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE run_id = ?", (run_id,)
        ).fetchone()[0]
        ts = _utc_now()
        digest = event_hash(prev_hash, run_id, seq, ts, type, query_id, payload)
        cursor = conn.execute(
            "INSERT INTO events (run_id, seq, ts, type, query_id, payload_json, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, seq, ts, type, query_id, canonical_json(payload), prev_hash, digest),
        )
        assert cursor.lastrowid is not None  # set by every successful INSERT
        return AuditEvent(
            id=cursor.lastrowid,
            run_id=run_id,
            seq=seq,
            ts=ts,
            type=type,
            query_id=query_id,
            payload=payload,
            prev_hash=prev_hash,
            hash=digest,
        )

    def _run_row(self, run_id: str) -> tuple[Any, ...]:
        row: tuple[Any, ...] | None = self._conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise AuditError(
                f"no run {run_id!r} in audit log {self.path}",
                "list the runs in this log and use one of their ids",
            )
        return row

    def _event_from_row(self, row: tuple[Any, ...]) -> AuditEvent:
        try:
            payload = json.loads(row[6])
        except json.JSONDecodeError as exc:
            raise AuditError(
                f"event {row[0]} in audit log {self.path} has a payload that is not valid JSON",
                "the file was edited outside cf-agent; run verify to find the first broken event",
            ) from exc
        return AuditEvent(
            id=row[0],
            run_id=row[1],
            seq=row[2],
            ts=row[3],
            type=row[4],
            query_id=row[5],
            payload=payload,
            prev_hash=row[7],
            hash=row[8],
        )


def _enable_wal(conn: sqlite3.Connection, deadline: float) -> None:
    """Switch to WAL, retrying while another process holds the write lock until `deadline`.

    SQLite answers a journal-mode switch that meets another writer with SQLITE_BUSY at once,
    without its busy handler (waiting could deadlock), so processes that open a new log together
    (Ray shards, a retried worker) would otherwise fail at random.
    """
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(_WAL_RETRY_S)


def _open(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """Connect in autocommit mode with WAL, busy timeout and foreign keys; migrate the schema."""
    if path.is_dir():
        raise AuditError(
            f"audit log {path} is a directory", f"give a file path, e.g. {path / 'audit.db'}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Threads may share a store if they serialise their calls (AgentContext does).
        conn = sqlite3.connect(
            path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as exc:
        raise AuditError(
            f"cannot open audit log {path}: {exc}",
            "choose an audit log path in a directory you can write to",
        ) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)  # first: a foreign or newer file is refused before anything changes it
        _enable_wal(conn, deadline=time.monotonic() + busy_timeout_s)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if exc.sqlite_errorname == "SQLITE_CORRUPT":
            raise AuditError(
                f"audit log {path} is damaged (truncated, or changed outside cf-agent): {exc}",
                "restore it from a copy, or start a new audit log at another path",
            ) from exc
        if exc.sqlite_errorname == "SQLITE_NOTADB":
            raise AuditError(
                f"{path} is not an SQLite database, so it cannot be an audit log",
                "point the audit log at a new file, or move this one away if it is in the way",
            ) from exc
        raise AuditError(
            f"cannot open audit log {path}: {exc}",
            "check the file's permissions and that no other program holds it locked",
        ) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _run_from_row(row: tuple[Any, ...]) -> AuditRun:
    return AuditRun(
        run_id=row[0],
        started_at=row[1],
        command=row[2],
        model_string=row[3],
        prompt_name=row[4],
        prompt_hash=row[5],
        config=json.loads(row[6]),
        status=row[7],
    )


def _link_problem(row: tuple[Any, ...], expected_id: int, expected_prev: str) -> str | None:
    """Why this stored event does not continue the chain, or None when it does."""
    event_id, run_id, seq, ts, type_, query_id, payload_json, prev_hash, stored_hash = row
    if event_id != expected_id:
        missing = (
            f"event {expected_id} is"
            if event_id == expected_id + 1
            else f"events {expected_id}..{event_id - 1} are"
        )
        return f"{missing} missing before it: deleted from the log"
    if prev_hash != expected_prev:
        return "prev_hash is not the previous event's hash: events were reordered or replaced"
    try:
        payload = json.loads(payload_json)
    except json.JSONDecodeError:
        return "payload is not valid JSON: the event was edited"
    if event_hash(prev_hash, run_id, seq, ts, type_, query_id, payload) != stored_hash:
        return "content does not match its hash: the event was edited"
    return None
