"""The audit store: migrations, run lifecycle, queries, hash chain, tamper evidence, scrubbing."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cf_agent.audit import GENESIS_HASH, AuditError, AuditStore, EventType, migrate
from cf_agent.audit import store as store_module
from cf_agent.audit.migrations import MIGRATIONS, Migration

MIGRATION_NAMES = ["m001_initial", "m002_indexes", "m003_append_only"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    with AuditStore(tmp_path / "audit.db") as opened:
        yield opened


@contextlib.contextmanager
def raw_without_triggers(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection with the append-only triggers dropped, as a tamperer would use."""
    with contextlib.closing(sqlite3.connect(path)) as raw:
        for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            raw.execute(f"DROP TRIGGER {name}")
        yield raw
        raw.commit()


def fill(store: AuditStore, n_events: int) -> str:
    """One run with `n_events` proposals after its run_started event."""
    run_id = store.start_run("cf-agent run", "hf:tiny", "propose", "abc123", {"k": 3})
    for i in range(n_events):
        store.append(
            run_id, EventType.PROPOSAL, {"i": i, "glucose": 100.0 + i}, query_id=f"q{i % 2}"
        )
    return run_id


def migration_rows(path: Path) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(path)) as raw:
        return raw.execute("SELECT name, applied_at FROM _migrations ORDER BY rowid").fetchall()


# --- migrations -------------------------------------------------------------------------------


def test_fresh_log_records_every_migration_by_name_in_order(store: AuditStore) -> None:
    rows = migration_rows(store.path)
    assert [name for name, _ in rows] == MIGRATION_NAMES
    for _, applied_at in rows:
        assert datetime.fromisoformat(applied_at).tzinfo == UTC


def test_reopening_applies_nothing_again(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    AuditStore(path).close()
    first = migration_rows(path)
    AuditStore(path).close()
    assert migration_rows(path) == first
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert migrate(conn) == []


def test_migrate_applies_only_the_missing_ones_in_order(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert migrate(conn, MIGRATIONS[:1]) == ["m001_initial"]
        assert migrate(conn) == ["m002_indexes", "m003_append_only"]
    assert [name for name, _ in migration_rows(path)] == MIGRATION_NAMES


def test_a_failing_migration_rolls_back_the_whole_upgrade(tmp_path: Path) -> None:
    def m004_broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    path = tmp_path / "audit.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        with pytest.raises(RuntimeError, match="boom"):
            migrate(conn, [*MIGRATIONS, Migration("m004_broken", m004_broken)])
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == []


def test_store_uses_wal_foreign_keys_and_busy_timeout(store: AuditStore) -> None:
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (30_000,)


# --- bad files --------------------------------------------------------------------------------


def test_a_text_file_is_refused_with_a_fix(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 20, encoding="utf-8")
    with pytest.raises(AuditError, match="not an SQLite database") as info:
        AuditStore(path)
    assert str(path) in info.value.message
    assert info.value.fix
    assert info.value.exit_code == 8
    assert path.read_text(encoding="utf-8").startswith("these are my notes")


def test_another_tools_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "cohort.db"
    with contextlib.closing(sqlite3.connect(path)) as raw:
        raw.execute("CREATE TABLE patients (person_id INTEGER, glucose REAL)")
        raw.commit()
    with pytest.raises(AuditError, match="not a cf-agent audit log") as info:
        AuditStore(path)
    assert str(path) in info.value.message and "patients" in info.value.message
    assert info.value.fix
    with contextlib.closing(sqlite3.connect(path)) as raw:
        names = raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert names == [("patients",)]


def test_a_log_from_a_newer_cf_agent_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    AuditStore(path).close()
    with contextlib.closing(sqlite3.connect(path)) as raw:
        raw.execute("INSERT INTO _migrations VALUES ('m099_future', '2099-01-01T00:00:00+00:00')")
        raw.commit()
    with pytest.raises(AuditError, match="newer cf-agent") as info:
        AuditStore(path)
    assert "m099_future" in info.value.message and str(path) in info.value.message
    assert "upgrade" in info.value.fix


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="is a directory"):
        AuditStore(tmp_path)


# --- runs and events --------------------------------------------------------------------------


def test_run_lifecycle(store: AuditStore) -> None:
    run_id = store.start_run("cf-agent run --k 3", "hf:tiny", "propose", "abc123", {"k": 3})
    run = store.run(run_id)
    assert (run.command, run.model_string, run.prompt_name, run.prompt_hash) == (
        "cf-agent run --k 3",
        "hf:tiny",
        "propose",
        "abc123",
    )
    assert run.config == {"k": 3} and run.status == "running"
    datetime.fromisoformat(run.started_at)

    [started] = store.events(run_id=run_id)
    assert (started.type, started.seq, started.query_id) == (EventType.RUN_STARTED, 1, None)
    assert started.payload["config"] == {"k": 3}
    assert started.payload["model_string"] == "hf:tiny"

    event = store.append(run_id, EventType.VERDICT, {"check": "classifier", "passed": True}, "q7")
    assert (event.seq, event.query_id, event.prev_hash) == (2, "q7", started.hash)
    assert datetime.fromisoformat(event.ts).tzinfo == UTC

    finished = store.finish_run(run_id, "ok")
    assert (finished.type, finished.seq, finished.payload) == (
        EventType.RUN_FINISHED,
        3,
        {"status": "ok"},
    )
    assert store.run(run_id).status == "ok"
    assert store.events(run_id=run_id) == [started, event, finished]
    with pytest.raises(AuditError, match="already finished"):
        store.finish_run(run_id, "failed")
    assert store.run(run_id).status == "ok"


def test_runs_are_listed_oldest_first_with_distinct_ids(store: AuditStore) -> None:
    ids = [store.start_run(f"run {i}", "m", "p", "h", {}) for i in range(5)]
    assert [run.run_id for run in store.runs()] == ids
    assert len(set(ids)) == 5
    assert all(len(run_id) == 18 and run_id.isalnum() for run_id in ids)


def test_unknown_run_ids_are_audit_errors(store: AuditStore) -> None:
    with pytest.raises(AuditError, match="no run 'nope'"):
        store.run("nope")
    with pytest.raises(AuditError, match="no run 'nope'"):
        store.append("nope", EventType.PROPOSAL, {})
    with pytest.raises(AuditError, match="no run 'nope'"):
        store.finish_run("nope", "ok")
    assert store.events() == []


def test_events_filter_by_run_type_query_search_and_limit(store: AuditStore) -> None:
    first = fill(store, 4)
    second = store.start_run("cf-agent run", "hf:tiny", "propose", "abc123", {})
    store.append(second, EventType.ACCEPTED, {"note": "HbA1c lowered to 6.1"}, query_id="q1")

    assert len(store.events()) == 7
    assert {e.run_id for e in store.events(run_id=first)} == {first}
    assert [e.payload["i"] for e in store.events(type=EventType.PROPOSAL)] == [0, 1, 2, 3]
    assert [e.type for e in store.events(query_id="q1")] == [
        EventType.PROPOSAL,
        EventType.PROPOSAL,
        EventType.ACCEPTED,
    ]
    assert [e.payload["i"] for e in store.events(run_id=first, query_id="q1")] == [1, 3]
    assert [e.run_id for e in store.events(search="hba1c")] == [second]
    assert [e.payload["i"] for e in store.events(search='"glucose":102')] == [2]
    assert [e.id for e in store.events(limit=2)] == [1, 2]
    assert store.events(type="no_such_type") == []


def test_search_treats_like_wildcards_literally(store: AuditStore) -> None:
    run_id = store.start_run("cf-agent run", "m", "p", "h", {})
    store.append(run_id, EventType.PROPOSAL, {"note": "steps up 10% a_b"})
    store.append(run_id, EventType.PROPOSAL, {"note": "steps up 10 a-b"})
    assert [e.payload["note"] for e in store.events(search="10%")] == ["steps up 10% a_b"]
    assert [e.payload["note"] for e in store.events(search="a_b")] == ["steps up 10% a_b"]


def test_payloads_are_made_json_safe(store: AuditStore, tmp_path: Path) -> None:
    run_id = store.start_run("cf-agent run", "m", "p", "h", {})
    payload = {
        "int": np.int64(7),
        "float32": np.float32(0.5),
        "flag": np.bool_(True),
        "nan": float("nan"),
        "np_inf": np.float64("inf"),
        "row": np.array([1.5, np.nan]),
        "path": tmp_path / "x.csv",
        "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "pair": (1, "a"),
        "nested": {3: [np.int32(1)]},
    }
    event = store.append(run_id, EventType.PROPOSAL, payload)
    expected = {
        "int": 7,
        "float32": 0.5,
        "flag": True,
        "nan": None,
        "np_inf": None,
        "row": [1.5, None],
        "path": str(tmp_path / "x.csv"),
        "when": "2024-01-02T03:04:05+00:00",
        "pair": [1, "a"],
        "nested": {"3": [1]},
    }
    assert event.payload == expected
    assert store.events(type=EventType.PROPOSAL)[0].payload == expected
    assert store.verify().ok


def test_unsupported_payload_values_are_refused_by_name(store: AuditStore) -> None:
    run_id = store.start_run("cf-agent run", "m", "p", "h", {})
    with pytest.raises(TypeError, match="cannot store a object"):
        store.append(run_id, EventType.PROPOSAL, {"thing": object()})
    assert len(store.events()) == 1


# --- secrets ----------------------------------------------------------------------------------


def test_secret_keys_and_key_shaped_strings_are_redacted(store: AuditStore) -> None:
    run_id = store.start_run(
        "cf-agent run --api-key sk-proj-abcdefghijklmnop1234",
        "openai:gpt",
        "p",
        "h",
        {"OPENAI_API_KEY": "abc", "base_url": "http://localhost:8000/v1"},
    )
    event = store.append(
        run_id,
        EventType.PROPOSAL,
        {
            "api_key": "plain",
            "apiKey": 123,
            "headers": {"Authorization": "Bearer xyz", "Accept": "json"},
            "access_token": {"nested": "value"},
            "Password": "hunter2",
            "client_secret": None,
            "max_tokens": 256,
            "usage": {"prompt_tokens": 10},
            "error": "401 for key sk-ant-0123456789abcdefghij: check Bearer abc.def-ghi",
            "messages": ["token sk-abcdefghijklmnopqrstuv here"],
        },
    )
    assert event.payload == {
        "api_key": "***",
        "apiKey": "***",
        "headers": {"Authorization": "***", "Accept": "json"},
        "access_token": "***",
        "Password": "***",
        "client_secret": "***",
        "max_tokens": 256,
        "usage": {"prompt_tokens": 10},
        "error": "401 for key ***: check ***",
        "messages": ["token *** here"],
    }
    run = store.run(run_id)
    assert run.command == "cf-agent run --api-key ***"
    assert run.config == {"OPENAI_API_KEY": "***", "base_url": "http://localhost:8000/v1"}
    raw = store.path.read_bytes() + Path(f"{store.path}-wal").read_bytes()
    for secret in (b"plain", b"hunter2", b"sk-proj-abcdefghijklmnop1234", b"Bearer xyz"):
        assert secret not in raw


def test_registered_secrets_are_replaced_anywhere(store: AuditStore) -> None:
    store.register_secret("s3cr3t-value")
    store.register_secret("s3cr3t")
    run_id = store.start_run("cf-agent run", "m", "p", "h", {"note": "uses s3cr3t-value"})
    event = store.append(
        run_id,
        EventType.PROPOSAL,
        {"text": "echo s3cr3t-value and s3cr3t", "list": ["xs3cr3tx", 1]},
    )
    assert event.payload == {"text": "echo *** and ***", "list": ["x***x", 1]}
    assert store.run(run_id).config == {"note": "uses ***"}
    with pytest.raises(ValueError, match="empty secret"):
        store.register_secret("")


# --- hash chain -------------------------------------------------------------------------------


def test_chain_links_every_event_and_verifies(store: AuditStore) -> None:
    fill(store, 3)
    other = fill(store, 2)
    store.finish_run(other, "ok")
    events = store.events()
    assert [e.id for e in events] == list(range(1, 9))
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    assert all(e.computed_hash() == e.hash for e in events)
    result = store.verify()
    assert result.ok and result.events_checked == 8
    assert (result.broken_event_id, result.problem) == (None, None)
    assert result.head_hash == events[-1].hash


def test_an_empty_log_verifies(store: AuditStore) -> None:
    result = store.verify()
    assert result.ok and result.events_checked == 0 and result.head_hash == GENESIS_HASH


def test_sql_updates_and_deletes_are_blocked_by_triggers(store: AuditStore) -> None:
    run_id = fill(store, 2)
    before = store.events()
    conn = store._conn
    statements: list[tuple[str, tuple[Any, ...]]] = [
        ("UPDATE events SET payload_json = '{}' WHERE id = 2", ()),
        ("DELETE FROM events WHERE id = 3", ()),
        ("DELETE FROM runs WHERE run_id = ?", (run_id,)),
        ("UPDATE runs SET config_json = '{}' WHERE run_id = ?", (run_id,)),
    ]
    for sql, params in statements:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql, params)
    assert store.events() == before
    assert store.run(run_id).config == {"k": 3}
    assert store.verify().ok


def test_edited_payload_is_the_first_broken_link(store: AuditStore) -> None:
    fill(store, 5)
    with raw_without_triggers(store.path) as raw:
        raw.execute("UPDATE events SET payload_json = ? WHERE id = 4", ('{"glucose":90.0,"i":2}',))
    result = store.verify()
    assert not result.ok
    assert result.broken_event_id == 4 and result.events_checked == 3
    assert result.problem is not None and "edited" in result.problem
    assert result.head_hash == store.events()[2].hash


def test_edit_with_a_recomputed_hash_breaks_the_next_link(store: AuditStore) -> None:
    fill(store, 5)
    edited = store.events()[3].model_copy(update={"payload": {"glucose": 90.0, "i": 2}})
    with raw_without_triggers(store.path) as raw:
        raw.execute(
            "UPDATE events SET payload_json = ?, hash = ? WHERE id = 4",
            ('{"glucose":90.0,"i":2}', edited.computed_hash()),
        )
    result = store.verify()
    assert result.broken_event_id == 5
    assert result.problem is not None and "reordered or replaced" in result.problem


def test_payload_edited_into_invalid_json_is_reported(store: AuditStore) -> None:
    fill(store, 3)
    with raw_without_triggers(store.path) as raw:
        raw.execute("UPDATE events SET payload_json = '{broken' WHERE id = 2")
    result = store.verify()
    assert result.broken_event_id == 2
    assert result.problem is not None and "not valid JSON" in result.problem
    with pytest.raises(AuditError, match=r"event 2 .* not valid JSON"):
        store.events()


def test_deleted_event_breaks_the_link_of_the_next(store: AuditStore) -> None:
    fill(store, 5)
    with raw_without_triggers(store.path) as raw:
        raw.execute("DELETE FROM events WHERE id = 3")
    result = store.verify()
    assert result.broken_event_id == 4 and result.events_checked == 2
    assert result.problem is not None and "event 3 is missing" in result.problem


def test_deleted_first_event_is_detected(store: AuditStore) -> None:
    fill(store, 2)
    with raw_without_triggers(store.path) as raw:
        raw.execute("DELETE FROM events WHERE id = 1")
    result = store.verify()
    assert result.broken_event_id == 2 and result.events_checked == 0


def test_deleted_tail_is_detected(store: AuditStore) -> None:
    fill(store, 5)
    with raw_without_triggers(store.path) as raw:
        raw.execute("DELETE FROM events WHERE id >= 5")
    result = store.verify()
    assert result.broken_event_id == 5 and result.events_checked == 4
    assert result.problem is not None and "events 5..6 were deleted" in result.problem


def test_deleted_event_is_detected_even_after_later_appends(store: AuditStore) -> None:
    run_id = fill(store, 3)
    with raw_without_triggers(store.path) as raw:
        raw.execute("DELETE FROM events WHERE id = 4")
    store.append(run_id, EventType.PROPOSAL, {"i": 99})
    result = store.verify()
    assert result.broken_event_id == 5
    assert result.problem is not None and "event 4 is missing" in result.problem


def test_reordered_events_are_detected_at_the_first_swapped_one(store: AuditStore) -> None:
    fill(store, 5)
    with raw_without_triggers(store.path) as raw:
        raw.execute("UPDATE events SET id = -1 WHERE id = 3")
        raw.execute("UPDATE events SET id = 3 WHERE id = 5")
        raw.execute("UPDATE events SET id = 5 WHERE id = -1")
    result = store.verify()
    assert result.broken_event_id == 3 and result.events_checked == 2
    assert result.problem is not None and "reordered" in result.problem


def test_swapped_hashes_are_detected(store: AuditStore) -> None:
    fill(store, 4)
    a, b = store.events()[1:3]
    with raw_without_triggers(store.path) as raw:
        raw.execute("UPDATE events SET hash = ? WHERE id = ?", (b.hash, a.id))
        raw.execute("UPDATE events SET hash = ? WHERE id = ?", (a.hash, b.id))
    result = store.verify()
    assert result.broken_event_id == a.id


# --- concurrency ------------------------------------------------------------------------------


def _append_many(path: str, run_id: str, worker: int, n: int, barrier: Any) -> None:
    with AuditStore(path) as store:
        barrier.wait()
        for i in range(n):
            store.append(run_id, EventType.PROPOSAL, {"worker": worker, "i": i})


def test_concurrent_processes_never_fork_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    with AuditStore(path) as store:
        run_id = store.start_run("cf-agent run", "m", "p", "h", {})
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [
        ctx.Process(target=_append_many, args=(str(path), run_id, w, 200, barrier)) for w in (0, 1)
    ]
    for proc in workers:
        proc.start()
    for proc in workers:
        proc.join(timeout=300)
    assert [proc.exitcode for proc in workers] == [0, 0]

    with AuditStore(path) as store:
        result = store.verify()
        events = store.events(run_id=run_id)
    assert result.ok and result.events_checked == 401
    assert [e.seq for e in events] == list(range(1, 402))
    for worker in (0, 1):
        mine = [e.payload["i"] for e in events if e.payload.get("worker") == worker]
        assert mine == list(range(200))


def test_a_writer_racing_the_switch_to_wal_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shards opening a new log together: one takes the write lock as another switches to WAL."""
    path = tmp_path / "audit.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def migrate_then_race(conn: sqlite3.Connection) -> list[str]:
        names = migrate(conn)
        other.execute("BEGIN IMMEDIATE")
        threading.Timer(0.3, other.execute, ("COMMIT",)).start()
        return names

    monkeypatch.setattr(store_module, "migrate", migrate_then_race)
    with AuditStore(path) as opened:
        run_id = opened.start_run("cf-agent run", "m", "p", "h", {})
        assert opened.runs()[0].run_id == run_id
    other.close()


def test_cli_audit_verify_reports_the_first_broken_link(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "audit.db"
    with AuditStore(path) as opened:
        fill(opened, 4)
    ok = subprocess.run(
        [sys.executable, "-m", "cf_agent", "audit", "verify", "--db", str(path)],
        capture_output=True, text=True, timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin"},
    )  # fmt: skip
    assert ok.returncode == 0 and "chain intact" in ok.stdout
    with raw_without_triggers(path) as raw:
        raw.execute("UPDATE events SET payload_json = '{\"i\": 99}' WHERE id = 3")
    broken = subprocess.run(
        [sys.executable, "-m", "cf_agent", "audit", "verify", "--db", str(path)],
        capture_output=True, text=True, timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin"},
    )  # fmt: skip
    assert broken.returncode == 11
    assert "broken chain" in broken.stderr and "event 3" in broken.stderr
