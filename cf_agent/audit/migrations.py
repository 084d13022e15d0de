"""Named, ordered schema migrations for the audit log, recorded by name in `_migrations`.

As in llm's logs.db: a migration's name is its version and each runs once per file. A file that
records a name this code does not know was written by a newer cf-agent: refused, not guessed at.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cf_agent.errors import CfAgentError

MIGRATIONS_TABLE = "_migrations"

MigrationFn = Callable[[sqlite3.Connection], None]


class AuditError(CfAgentError):
    """The audit log is unusable: not SQLite, another tool's database, newer schema, bad run id."""

    exit_code = 8


@dataclass(frozen=True)
class Migration:
    """One schema step. `apply` must use `conn.execute` only: executescript would commit midway."""

    name: str
    apply: MigrationFn


MIGRATIONS: list[Migration] = []


def migration(fn: MigrationFn) -> MigrationFn:
    """Register `fn` as the next migration, named after the function."""
    MIGRATIONS.append(Migration(fn.__name__, fn))
    return fn


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE .. COMMIT: take the write lock up front so concurrent writers queue.

    `conn` must be in autocommit mode (isolation_level=None); any exception rolls back.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the migrations this file lacks, in order, in one transaction; return their names."""
    file_name = _database_file(conn)
    with write_transaction(conn):
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if MIGRATIONS_TABLE not in tables:
            if tables:
                raise AuditError(
                    f"{file_name} is an SQLite database but not a cf-agent audit log "
                    f"(it has tables: {', '.join(sorted(tables))})",
                    "point the audit log at a new file, e.g. runs/audit.db",
                )
            conn.execute(
                f"CREATE TABLE {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
        applied = {row[0] for row in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
        unknown = sorted(applied - {m.name for m in migrations})
        if unknown:
            raise AuditError(
                f"audit log {file_name} was written by a newer cf-agent "
                f"(unknown migrations: {', '.join(unknown)})",
                "upgrade cf-agent, or point the audit log at a new file",
            )
        pending = [m for m in migrations if m.name not in applied]
        for step in pending:
            step.apply(conn)
            conn.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)",
                (step.name, datetime.now(UTC).isoformat(timespec="microseconds")),
            )
    return [m.name for m in pending]


def _database_file(conn: sqlite3.Connection) -> str:
    """Path of the main database, for error messages."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return str(file) or ":memory:"
    return ":memory:"


@migration
def m001_initial(conn: sqlite3.Connection) -> None:
    """Runs and their hash-chained events."""
    conn.execute(
        """
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            command TEXT NOT NULL,
            model_string TEXT NOT NULL,
            prompt_name TEXT NOT NULL,
            prompt_hash TEXT NOT NULL,
            config_json TEXT NOT NULL,
            status TEXT NOT NULL
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs (run_id),
            seq INTEGER NOT NULL,
            ts TEXT NOT NULL,
            type TEXT NOT NULL,
            query_id TEXT,
            payload_json TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )
        """
    )


@migration
def m002_indexes(conn: sqlite3.Connection) -> None:
    """Lookups by run (unique per-run sequence numbers), event type and query."""
    conn.execute("CREATE UNIQUE INDEX events_run_id_seq ON events (run_id, seq)")
    conn.execute("CREATE INDEX events_type ON events (type)")
    conn.execute("CREATE INDEX events_query_id ON events (query_id)")


@migration
def m003_append_only(conn: sqlite3.Connection) -> None:
    """Refuse edits through SQL; only a run's status may change (set once by finish_run)."""
    for table, action in (("events", "UPDATE"), ("events", "DELETE"), ("runs", "DELETE")):
        conn.execute(
            f"""
            CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}
            BEGIN SELECT RAISE(ABORT, 'audit log is append-only: {action} on {table} refused'); END
            """
        )
    conn.execute(
        """
        CREATE TRIGGER runs_no_update BEFORE UPDATE OF
            run_id, started_at, command, model_string, prompt_name, prompt_hash, config_json
        ON runs
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE on runs refused'); END
        """
    )
