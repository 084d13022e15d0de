"""Export of accepted CFs: reviewers' decisions decide, factual and CF values side by side."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from review.review_world import ReviewWorld, shared_world
from typer.testing import CliRunner

from cf_agent.audit.store import AuditStore
from cf_agent.cli import app
from cf_agent.data.cohort import load_cohort
from cf_agent.errors import OutputError, SpecError
from cf_agent.review.decisions import record_decision
from cf_agent.review.export import export_accepted_cfs
from cf_agent.review.history import load_query_history


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ReviewWorld:
    return shared_world(tmp_path_factory)


@pytest.fixture
def reviewed_db(world: ReviewWorld) -> Path:
    """Accept P00005's CF, reject P00006's, accept an edit of P00014's (its own CF unreviewed)."""
    db = world.copy_db()
    with AuditStore(db) as store:

        def cf_of(query_id: str) -> dict[str, Any]:
            return load_query_history(store, world.run_id, query_id).counterfactuals[0].values

        record_decision(store, world.run_id, "P00005", "accept", "ana", values=cf_of("P00005"))
        record_decision(
            store, world.run_id, "P00006", "reject", "ana", values=cf_of("P00006"), reason="no"
        )
        edited = {**cf_of("P00014"), "steps": cf_of("P00014")["steps"] + 100}
        record_decision(store, world.run_id, "P00014", "edit", "ben", values=edited)
        record_decision(
            store, world.run_id, "P00014", "accept", "ben", values=edited, source="reviewer"
        )
    return db


def test_csv_has_decisions_changes_and_both_rows(
    world: ReviewWorld, reviewed_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cfs.csv"
    with AuditStore(reviewed_db) as store:
        result = export_accepted_cfs(store, world.run_id, out)
    assert (result.rows, result.reviewed) == (3, 2)
    frame = pd.read_csv(out, keep_default_na=False)
    rows = frame[["query_id", "review", "reviewer", "source"]].itertuples(index=False)
    assert [tuple(r) for r in rows] == [
        ("P00005", "accepted", "ana", "scripted"),
        ("P00014", "unreviewed", "", "scripted"),
        ("P00014", "accepted", "ben", "reviewer"),
    ]
    assert frame.loc[0, "changes"] == "steps +4,500 steps/day (3,991 -> 8,491)"
    cohort = load_cohort(world.root / "demo" / "demo.csv", world.spec)
    assert frame.loc[2, "factual_steps"] == cohort.row("P00014")["steps"]
    assert frame.loc[2, "cf_steps"] == cohort.row("P00014")["steps"] + 2600
    assert (
        frame.loc[0, "classifier_passed"] == "True"
        and float(frame.loc[0, "classifier_score"]) > 0.5
    )


def test_parquet_reviewed_only(world: ReviewWorld, reviewed_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "cfs.parquet"
    with AuditStore(reviewed_db) as store:
        result = export_accepted_cfs(store, world.run_id, out, reviewed_only=True)
    frame = pd.read_parquet(out)
    assert result.rows == 2 and list(frame["query_id"]) == ["P00005", "P00014"]
    assert set(frame["review"]) == {"accepted"}


def test_unknown_format_and_missing_spec(world: ReviewWorld, tmp_path: Path) -> None:
    with AuditStore(world.db) as store, pytest.raises(OutputError, match=r"\.csv or \*\.parquet"):
        export_accepted_cfs(store, world.run_id, tmp_path / "cfs.xlsx")
    moved = tmp_path / "moved.db"
    shutil.copy(world.copy_db(), moved)
    with AuditStore(moved) as store, pytest.raises(SpecError, match="no longer at"):
        export_accepted_cfs(store, world.run_id, tmp_path / "cfs.csv")
    assert not (tmp_path / "cfs.csv").exists()


def test_cli_export_cfs(world: ReviewWorld, reviewed_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "cfs.csv"
    args = ["audit", "export-cfs", "--db", str(reviewed_db), "--run", world.run_id]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--reviewed-only"])
    assert result.exit_code == 0, result.output
    assert "exported 2 CFs (2 reviewer-accepted)" in result.output
    assert len(pd.read_csv(out)) == 2
