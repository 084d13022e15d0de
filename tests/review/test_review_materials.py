"""A run's files found again from its config: relative to the log, or a clear message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from review.review_world import ReviewWorld, shared_world

from cf_agent.audit.store import AuditStore
from cf_agent.errors import DataError, SpecError
from cf_agent.review.history import load_query_history
from cf_agent.review.materials import RunMaterials


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ReviewWorld:
    return shared_world(tmp_path_factory)


def test_relative_paths_resolve_beside_the_audit_log(world: ReviewWorld) -> None:
    with AuditStore(world.db) as store:
        run = store.run(world.run_id)
        query = load_query_history(store, world.run_id, "P00005")
    assert run.config["data"] == "demo/demo.csv"  # the run was started from its folder
    materials = RunMaterials(run, world.db.parent)
    assert materials.prepare() == []
    factual, source = materials.factual(query)
    assert source == "data file" and factual == materials.cohort.row("P00005")


def test_moved_files_are_named_and_the_prompt_row_is_used(
    world: ReviewWorld, tmp_path: Path
) -> None:
    moved = tmp_path / "elsewhere.db"
    shutil.copy(world.copy_db(), moved)
    with AuditStore(moved) as store:
        run = store.run(world.run_id)
        query = load_query_history(store, world.run_id, "P00005")
    materials = RunMaterials(run, tmp_path)
    with pytest.raises(DataError, match=r"data file of run .* is no longer at demo/demo.csv"):
        _ = materials.cohort
    with pytest.raises(SpecError, match="feature spec"):
        _ = materials.spec
    factual, source = materials.factual(query)
    assert source == "the prompt in the audit log" and factual["steps"] == 3991


def test_changed_data_file_is_reported(world: ReviewWorld, tmp_path: Path) -> None:
    shutil.copytree(world.root / "model", tmp_path / "model")
    shutil.copytree(world.root / "demo", tmp_path / "demo")
    data = tmp_path / "demo" / "demo.csv"
    lines = data.read_text(encoding="utf-8").splitlines()
    data.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")  # one person fewer
    shutil.copy(world.copy_db(), tmp_path / "audit.db")
    with AuditStore(tmp_path / "audit.db") as store:
        materials = RunMaterials(store.run(world.run_id), tmp_path)
    assert materials.warnings() == [
        "the data file changed since the run: the factual rows may differ"
    ]
