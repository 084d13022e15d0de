"""Outputs stream from the journal: records read back from their lines, CSV written in chunks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from world import World

from cf_agent.agent import outputs
from cf_agent.agent.journal import ResultJournal
from cf_agent.agent.outputs import write_results


def record(world: World, query_id: str, with_cf: bool) -> dict[str, Any]:
    row = world.query()
    cfs = []
    if with_cf:
        values = {**row, "steps": row["steps"] + 3000}
        cfs.append(
            {
                "source": "scripted",
                "values": values,
                "changes": {"steps": {"delta": 3000, "text": "steps +3,000 steps/day"}},
                "provenance": {"steps": "llm"},
                "verdicts": {
                    "classifier": {"score": 0.8, "passed": True},
                    "plausibility": {"score": 0.9, "passed": True},
                },
            }
        )
    status = "accepted" if with_cf else "gave_up"
    base = {"query_id": query_id, "status": status, "rounds": 1, "llm_calls": 1, "seconds": 0.5}
    return {**base, "counterfactuals": cfs}


def test_journal_without_records_in_memory_reads_each_line_back(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = ResultJournal(path, keep_records=False)
    for i in range(3):
        journal.append({"query_id": f"q{i}", "value": "é" * i})
    assert journal.records == {} and len(journal) == 3
    assert journal.read("q2") == {"query_id": "q2", "value": "éé"}

    with path.open("ab") as handle:  # a torn line from a kill mid-write
        handle.write(b'{"query_id": "q3", "val')
    reopened = ResultJournal(path, keep_records=False)
    assert len(reopened) == 3 and "q3" not in reopened
    assert reopened.read("q0") == {"query_id": "q0", "value": ""}
    with pytest.raises(ValueError, match="already"):
        reopened.append({"query_id": "q1"})


def test_csv_chunks_share_one_header_even_when_the_first_has_no_cf(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outputs, "CHUNK_RECORDS", 1)
    records = [record(world, "a", False), record(world, "b", True), record(world, "c", True)]
    write_results(world.spec, iter(records), tmp_path / "r.csv")
    write_results(world.spec, iter(records), tmp_path / "r.jsonl")

    frame = pd.read_csv(tmp_path / "r.csv")
    assert list(frame["query_id"]) == ["a", "b", "c"]
    assert {"classifier_score", "plausibility_score", "cf_steps"} <= set(frame.columns)
    assert frame["cf_steps"].isna().tolist() == [True, False, False]
    assert frame.loc[1, "cf_steps"] == world.query()["steps"] + 3000
    lines = (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["query_id"] for line in lines] == ["a", "b", "c"]
