"""Snapshots of the main screens at 80x24 (and the review screen wide), from a fixed run.

The run is built under a fixed clock and run id, so the screens never change between runs.
Update after an intended change: .venv/bin/pytest tests/tui --snapshot-update
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from review.review_world import ReviewWorld, shared_world
from textual.pilot import Pilot
from textual.widgets import Select
from tui_pilot import settle

from cf_agent.tui.app import CfAgentApp

SnapCompare = Callable[..., bool]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ReviewWorld:
    return shared_world(tmp_path_factory)


def app_for(world: ReviewWorld, run: bool = True) -> CfAgentApp:
    return CfAgentApp(world.copy_db(), run_id=world.run_id if run else None, reviewer="tester")


def then(*keys: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    """Settle, press `keys` one at a time settling after each, for `run_before`."""

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


def test_runs_screen(snap_compare: SnapCompare, world: ReviewWorld) -> None:
    assert snap_compare(app_for(world, run=False), run_before=then())


def test_queue_screen(snap_compare: SnapCompare, world: ReviewWorld) -> None:
    assert snap_compare(app_for(world), run_before=then())


def test_review_screen(snap_compare: SnapCompare, world: ReviewWorld) -> None:
    assert snap_compare(app_for(world), run_before=then("enter"))


def test_review_history_tab(snap_compare: SnapCompare, world: ReviewWorld) -> None:
    assert snap_compare(app_for(world), run_before=then("enter", "2"))


def test_review_screen_wide_gave_up(snap_compare: SnapCompare, world: ReviewWorld) -> None:
    run_before = then("down", "down", "enter")
    assert snap_compare(app_for(world), run_before=run_before, terminal_size=(130, 30))


def test_audit_screen(snap_compare: SnapCompare, world: ReviewWorld) -> None:
    async def verdicts_only(pilot: Pilot[None]) -> None:
        await then("l")(pilot)
        pilot.app.screen.query_one("#type-filter", Select).value = "verdict"
        await settle(pilot)

    assert snap_compare(app_for(world), run_before=verdicts_only)
