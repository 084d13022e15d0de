"""An append-only JSONL journal of finished queries: the unit of resume after a crash.

Each line is flushed and fsynced before the next query starts, so a SIGKILL loses at most the
query in flight. A torn last line (killed mid-write) is cut off when the journal reopens;
a damaged line with records after it is refused (OutputError), never silently dropped.
With `keep_records=False` only each line's place in the file stays in memory, so a batch of
millions of rows runs in flat memory and `read` fetches a record when it is written out.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cf_agent.errors import OutputError


def _record(line: bytes) -> dict[str, Any] | None:
    """The line's record, or None if the line is torn or not a record."""
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        return None
    return record if isinstance(record, dict) and "query_id" in record else None


class ResultJournal:
    """Completed query records, keyed by query id; appending a known id is refused."""

    def __init__(self, path: Path, keep_records: bool = True) -> None:
        self.path = path
        self.keep_records = keep_records
        self.records: dict[str, dict[str, Any]] = {}
        self._places: dict[str, tuple[int, int]] = {}
        if path.exists():
            self._load()

    def _remember(self, record: dict[str, Any], start: int, length: int) -> None:
        query_id = str(record["query_id"])
        self._places[query_id] = (start, length)
        if self.keep_records:
            self.records[query_id] = record

    def _load(self) -> None:
        good_end = 0
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                record = _record(line)
                if record is None:
                    if handle.read(1):  # not the last line: damage, not a write cut short
                        raise OutputError(
                            f"journal {self.path} is damaged at line {number} (not a complete "
                            "record) and has records after it",
                            "restore it from a copy, or delete it (or rerun with --overwrite) "
                            "to redo the work it records",
                        )
                    break
                self._remember(record, good_end, len(line))
                good_end += len(line)
            size = handle.seek(0, os.SEEK_END)
        if good_end != size:  # a torn last line: the write a kill interrupted
            with self.path.open("r+b") as handle:
                handle.truncate(good_end)

    def __contains__(self, query_id: str) -> bool:
        return query_id in self._places

    def __len__(self) -> int:
        return len(self._places)

    def query_ids(self) -> list[str]:
        """The journalled queries, in the order they finished."""
        return list(self._places)

    def read(self, query_id: str) -> dict[str, Any]:
        """One record, from memory or from its line in the file."""
        if self.keep_records:
            return self.records[query_id]
        start, length = self._places[query_id]
        with self.path.open("rb") as handle:
            handle.seek(start)
            record: dict[str, Any] = json.loads(handle.read(length))
        return record

    def append(self, record: dict[str, Any]) -> None:
        query_id = str(record["query_id"])
        if query_id in self._places:
            raise ValueError(f"query {query_id} is already in {self.path}")
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = line.encode()
        with self.path.open("ab") as handle:
            start = handle.tell()
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        self._remember(record, start, len(data))
