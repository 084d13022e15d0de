"""Exporting audit events: JSONL and CSV round trips, run filter, atomic writes."""

from __future__ import annotations

import contextlib
import csv
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from cf_agent.audit import AuditError, AuditEvent, AuditStore, EventType, export_events
from cf_agent.audit.export import CSV_COLUMNS
from cf_agent.errors import OutputError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuditStore]:
    with AuditStore(tmp_path / "audit.db") as opened:
        first = opened.start_run("cf-agent run", "hf:tiny", "propose", "abc123", {"k": 3})
        opened.append(
            first,
            EventType.PROPOSAL,
            {"note": 'raise steps, "then" sleep,\nmore', "row": {"glucose": 101.5, "bmi": None}},
            query_id="q1",
        )
        opened.append(
            first, EventType.VERDICT, {"check": "plausibility", "passed": False, "é": "ü"}
        )
        opened.finish_run(first, "ok")
        second = opened.start_run("cf-agent review", "hf:tiny", "review", "def456", {})
        opened.append(
            second, EventType.VERDICT, {"check": "classifier", "passed": True}, query_id="q2"
        )
        yield opened


def test_jsonl_round_trip_keeps_every_field_and_hash(store: AuditStore, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "events.jsonl"
    assert export_events(store, out) == 6
    lines = out.read_text(encoding="utf-8").splitlines()
    exported = [AuditEvent.model_validate(json.loads(line)) for line in lines]
    assert exported == store.events()
    assert all(event.computed_hash() == event.hash for event in exported)


def test_csv_round_trip_has_one_row_per_event_with_json_payload(
    store: AuditStore, tmp_path: Path
) -> None:
    out = tmp_path / "events.csv"
    assert export_events(store, out) == 6
    with out.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    events = store.events()
    assert len(rows) == len(events)
    for row, event in zip(rows, events, strict=True):
        rebuilt = AuditEvent(
            id=int(row["id"]),
            run_id=row["run_id"],
            seq=int(row["seq"]),
            ts=row["ts"],
            type=row["type"],
            query_id=row["query_id"] or None,
            payload=json.loads(row["payload_json"]),
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )
        assert rebuilt == event
        assert rebuilt.computed_hash() == event.hash


def test_export_of_one_run_holds_only_its_events(store: AuditStore, tmp_path: Path) -> None:
    second = store.runs()[1].run_id
    out = tmp_path / "run.jsonl"
    assert export_events(store, out, run_id=second) == 2
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [event["run_id"] for event in exported] == [second, second]
    assert [event["seq"] for event in exported] == [1, 2]


def test_unknown_format_and_unknown_run_write_nothing(store: AuditStore, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"unknown format \.parquet") as info:
        export_events(store, tmp_path / "events.parquet")
    assert ".jsonl" in info.value.fix
    with pytest.raises(AuditError, match="no run 'nope'"):
        export_events(store, tmp_path / "events.csv", run_id="nope")
    assert not (tmp_path / "events.parquet").exists()
    assert not (tmp_path / "events.csv").exists()


@pytest.mark.parametrize("name", ["events.jsonl", "events.csv"])
def test_failed_export_leaves_the_old_file_and_no_partial_one(
    store: AuditStore, tmp_path: Path, name: str
) -> None:
    out = tmp_path / name
    out.write_text("previous export\n", encoding="utf-8")
    with contextlib.closing(sqlite3.connect(store.path)) as raw:
        raw.execute("DROP TRIGGER events_no_update")
        raw.execute("UPDATE events SET payload_json = '{cut' WHERE id = 5")
        raw.commit()
    # Events 1-4 are written to the temporary file before event 5 fails to parse.
    with pytest.raises(AuditError, match=r"event 5 .* not valid JSON"):
        export_events(store, out)
    assert out.read_text(encoding="utf-8") == "previous export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
