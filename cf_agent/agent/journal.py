"""An append-only JSONL journal of finished queries: the unit of resume after a crash.

Each line is flushed and fsynced before the next query starts, so a SIGKILL loses at most the
query in flight. A torn last line (killed mid-write) is cut off when the journal reopens.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class ResultJournal:
    """Completed query records, keyed by query id; appending a known id is refused."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        good_end = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            self.records[str(record["query_id"])] = record
            good_end += len(line)
        if good_end != len(data):
            with self.path.open("r+b") as handle:
                handle.truncate(good_end)

    def __contains__(self, query_id: str) -> bool:
        return query_id in self.records

    def append(self, record: dict[str, Any]) -> None:
        query_id = str(record["query_id"])
        if query_id in self.records:
            raise ValueError(f"query {query_id} is already in {self.path}")
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as handle:
            handle.write(line.encode())
            handle.flush()
            os.fsync(handle.fileno())
        self.records[query_id] = record
