"""Export audit events to JSONL or CSV for people and tools outside cf-agent.

Exports are written atomically: a failure part-way (e.g. an event edited into invalid JSON) leaves
any earlier file under the same name untouched and no partial file behind.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from cf_agent.audit.store import AuditEvent, AuditStore, canonical_json
from cf_agent.errors import OutputError
from cf_agent.fileio import atomic_path

CSV_COLUMNS = ("id", "run_id", "seq", "ts", "type", "query_id", "payload_json", "prev_hash", "hash")


def export_events(store: AuditStore, out_path: Path | str, run_id: str | None = None) -> int:
    """Write every event (or one run's) to `out_path`, format from its extension; return the count.

    `.jsonl`: one event object per line, payload as an object. `.csv`: one row per event with the
    payload as JSON text in `payload_json` and an empty `query_id` for none.
    """
    target = Path(out_path)
    writer = _WRITERS.get(target.suffix.lower())
    if writer is None:
        raise OutputError(
            f"cannot export audit events to {target}: unknown format {target.suffix or '(none)'}",
            "name the output file *.jsonl or *.csv",
        )
    if run_id is not None:
        store.run(run_id)
    with atomic_path(target) as tmp, tmp.open("w", encoding="utf-8", newline="") as out:
        return writer(out, store.iter_events(run_id=run_id))


def _write_jsonl(out: TextIO, events: Iterable[AuditEvent]) -> int:
    count = 0
    for event in events:
        out.write(json.dumps(event.model_dump(mode="json"), ensure_ascii=False) + "\n")
        count += 1
    return count


def _write_csv(out: TextIO, events: Iterable[AuditEvent]) -> int:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for event in events:
        writer.writerow(
            (
                event.id,
                event.run_id,
                event.seq,
                event.ts,
                event.type,
                event.query_id or "",
                canonical_json(event.payload),
                event.prev_hash,
                event.hash,
            )
        )
        count += 1
    return count


_WRITERS: dict[str, Callable[[TextIO, Iterable[AuditEvent]], int]] = {
    ".jsonl": _write_jsonl,
    ".csv": _write_csv,
}
