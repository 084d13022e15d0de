"""Pilot tests: each review action and what it appends to the audit log."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
from review.review_world import ReviewWorld, another_cf_factory, change, shared_world
from textual.widgets import DataTable, Input, Select, TabbedContent
from tui_pilot import settle, text_of

from cf_agent.audit.store import AuditEvent, AuditStore
from cf_agent.proposers import CFRequest, Proposal, Proposer
from cf_agent.review.materials import RunMaterials
from cf_agent.tui.app import CfAgentApp
from cf_agent.tui.screens.audit import AuditScreen
from cf_agent.tui.screens.edit_value import EditValueScreen
from cf_agent.tui.screens.help import HelpScreen
from cf_agent.tui.screens.prompt import TextPromptScreen
from cf_agent.tui.screens.queue import QueueScreen
from cf_agent.tui.screens.review import ReviewScreen

pytestmark = pytest.mark.anyio  # async tests run on asyncio through anyio's pytest plugin
SIZE = (100, 30)
ROW = {"P00005": 0, "P00006": 1, "P00011": 2, "P00014": 3}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ReviewWorld:
    return shared_world(tmp_path_factory)


@pytest.fixture
def db(world: ReviewWorld) -> Path:
    return world.copy_db()


def make_app(world: ReviewWorld, db: Path, proposer_factory=None) -> CfAgentApp:  # type: ignore[no-untyped-def]
    factory = proposer_factory or another_cf_factory([change(steps=3000)])
    return CfAgentApp(db, run_id=world.run_id, reviewer="tester", proposer_factory=factory)


def reviews(db: Path, query_id: str) -> list[AuditEvent]:
    with AuditStore(db) as store:
        return store.events(type="review", query_id=query_id)


async def open_review(pilot, query_id: str) -> ReviewScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    assert isinstance(pilot.app.screen, QueueScreen)
    await pilot.press(*["down"] * ROW[query_id], "enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ReviewScreen) and screen.query_id == query_id
    return screen


async def test_accept_is_logged_and_shown(world: ReviewWorld, db: Path) -> None:
    app = make_app(world, db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, "P00005")
        shown = screen.current
        assert shown is not None
        await pilot.press("a")
        [event] = reviews(db, "P00005")
        assert event.payload["action"] == "accept" and event.payload["reviewer"] == "tester"
        assert event.payload["values"] == shown.values and event.payload["source"] == "scripted"
        assert [v["passed"] for v in event.payload["verdicts"]] == [True, True, True]
        assert "accepted by tester" in text_of(screen.query_one("#review-summary"))
        await pilot.press("escape")
        await settle(pilot)
        table = app.screen.query_one("#queue-table", DataTable)
        assert table.get_row("P00005")[4] == "accepted"


async def test_reject_needs_a_reason(world: ReviewWorld, db: Path) -> None:
    app = make_app(world, db)
    async with app.run_test(size=SIZE) as pilot:
        await open_review(pilot, "P00006")
        await pilot.press("r")
        assert isinstance(app.screen, TextPromptScreen)
        await pilot.press("enter")  # empty: refused, the dialog stays
        assert isinstance(app.screen, TextPromptScreen) and reviews(db, "P00006") == []
        await pilot.press(*"too far", "enter")
        assert isinstance(app.screen, ReviewScreen)
        [event] = reviews(db, "P00006")
        assert event.payload["action"] == "reject"
        assert event.payload["reason"] == "too far"
        assert app.screen.history.review_state == "rejected"


async def test_edit_reverifies_with_all_three_checks(world: ReviewWorld, db: Path) -> None:
    app = make_app(world, db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, "P00005")
        await pilot.press("e")  # the cursor is on the first feature: age, which is immutable
        assert isinstance(app.screen, EditValueScreen) and app.screen.feature.name == "age"
        await pilot.press("backspace", "backspace", "6", "5", "enter")
        [event] = reviews(db, "P00005")
        assert event.payload["action"] == "edit" and event.payload["values"]["age"] == 65
        checks = {v["check"]: v["passed"] for v in event.payload["verdicts"]}
        assert checks == {"classifier": True, "actionability": False, "plausibility": True}
        assert screen.current is not None and screen.current.values["age"] == 65
        assert screen.current.label == "edited by tester"
        assert "✗ age" in str(screen.query_one("#cf-table", DataTable).get_row("age")[0])
        assert "failed: actionability" in text_of(screen.query_one("#verdicts"))
        await pilot.press("down", "e", *["backspace"] * 6, *"lots", "enter")
        assert len(reviews(db, "P00005")) == 1  # not a number: nothing logged


async def test_note_is_logged(world: ReviewWorld, db: Path) -> None:
    app = make_app(world, db)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, "P00011")
        await pilot.press("n", *"call Mo", "enter")
        [event] = reviews(db, "P00011")
        assert event.payload == {
            "action": "note",
            "reviewer": "tester",
            "note": "call Mo",
        }
        await pilot.press("3")
        assert screen.query_one(TabbedContent).active == "tab-decisions"
        assert "note: call Mo" in text_of(screen.query_one("#decisions"))


class GatedProposer:
    """Holds the agent until the test lets it go, to show the UI answers meanwhile."""

    def __init__(self, inner: Proposer) -> None:
        self.inner = inner
        self.name, self.is_llm = inner.name, inner.is_llm
        self.started, self.release = threading.Event(), threading.Event()

    def propose(self, requests: Sequence[CFRequest]) -> list[Proposal]:
        self.started.set()
        self.release.wait(timeout=60)
        return self.inner.propose(requests)


async def test_another_cf_runs_in_a_worker(world: ReviewWorld, db: Path) -> None:
    gates: list[GatedProposer] = []

    def factory(materials: RunMaterials) -> Proposer:
        gates.append(GatedProposer(another_cf_factory([change(steps=3000)])(materials)))
        return gates[-1]

    app = make_app(world, db, factory)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, "P00011")  # the agent gave up on this person
        assert screen.history.status == "gave_up"
        await pilot.press("g")
        while not (gates and gates[0].started.is_set()):
            await pilot.pause(0.01)
        await pilot.press("2")  # the UI answers while the agent works
        assert screen.query_one(TabbedContent).active == "tab-history"
        assert screen.query_one("#agent-progress").display
        assert "agent:" in text_of(screen.query_one("#agent-status"))
        gates[0].release.set()
        await settle(pilot)
        assert not screen.query_one("#agent-progress").display
        assert screen.history.status == "accepted" and screen.current is not None
        assert screen.current.values["steps"] == screen.inputs.factual["steps"] + 3000  # type: ignore[index]
        assert "Attempt 2 · asked for by tester · accepted" in text_of(screen.query_one("#history"))
    with AuditStore(db) as store:
        types = [e.type for e in store.events(query_id="P00011")][-4:]
        request = store.events(type="review", query_id="P00011")[-1]
    assert types == ["review", "proposal", "verdict", "accepted"]
    assert request.payload == {"action": "request_cf", "reviewer": "tester"}


async def test_export_from_the_queue(world: ReviewWorld, db: Path, tmp_path: Path) -> None:
    app = make_app(world, db)
    out = tmp_path / "accepted.parquet"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        dialog = app.screen
        assert isinstance(dialog, TextPromptScreen)
        assert dialog.query_one(Input).value.endswith(f"accepted-cfs-{world.run_id}.csv")
        dialog.query_one(Input).value = str(out)
        await pilot.press("enter")
        await settle(pilot)
    frame = pd.read_parquet(out)
    assert list(frame["query_id"]) == ["P00005", "P00006", "P00014"]
    assert set(frame["review"]) == {"unreviewed"}


async def test_queue_filters_and_search(world: ReviewWorld, db: Path) -> None:
    app = make_app(world, db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#queue-table", DataTable)
        assert table.row_count == 4
        await pilot.press("f")  # agent found a CF
        assert [str(k.value) for k in table.rows] == ["P00005", "P00006", "P00014"]
        await pilot.press("f")  # agent gave up
        assert [str(k.value) for k in table.rows] == ["P00011"]
        app.screen.query_one("#status-filter", Select).value = "all"
        await pilot.press("slash", *"14", "enter")
        assert [str(k.value) for k in table.rows] == ["P00014"]


async def test_audit_screen_filters_and_search(world: ReviewWorld, db: Path) -> None:
    app = make_app(world, db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AuditScreen) and screen.run_id == world.run_id
        table = screen.query_one("#events-table", DataTable)
        with AuditStore(db) as store:
            assert table.row_count == len(store.events(run_id=world.run_id))
        screen.query_one("#type-filter", Select).value = "verdict"
        await settle(pilot)
        assert table.row_count == 7
        await pilot.press("slash", *"age mu")
        await settle(pilot)
        assert table.row_count == 2
        assert "age must stay" in text_of(screen.query_one("#event-detail"))
        screen.query_one("#query-filter", Input).value = "P00005"
        await settle(pilot)
        assert table.row_count == 0


async def test_help_opens_and_closes(world: ReviewWorld, db: Path) -> None:
    app = make_app(world, db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, QueueScreen)


async def test_moved_files_leave_the_log_readable(world: ReviewWorld, tmp_path: Path) -> None:
    moved = tmp_path / "audit.db"
    moved.write_bytes(world.copy_db().read_bytes())
    app = make_app(world, moved)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, "P00005")
        warning = text_of(screen.query_one("#review-warning"))
        assert (
            "no longer at demo/demo.toml" in warning and screen.query_one("#review-warning").display
        )
        steps = screen.query_one("#cf-table", DataTable).get_row("steps")
        assert [str(c) for c in steps[1:3]] == ["3,991", "8,491"]  # factual row from the prompt
        await pilot.press("e")
        assert isinstance(app.screen, ReviewScreen)  # editing is off without the files
        await pilot.press("a")  # deciding still works
    assert [e.payload["action"] for e in reviews(moved, "P00005")] == ["accept"]


async def test_mouse_opens_a_query_and_switches_tabs(world: ReviewWorld, db: Path) -> None:
    app = make_app(world, db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.click("#queue-table", offset=(3, 2))  # highlights P00006 (row 2: header 0)
        await pilot.click("#queue-table", offset=(3, 2))  # a click on the highlighted row opens it
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen) and screen.query_id == "P00006"
        await pilot.click("#--content-tab-tab-history")
        assert screen.query_one(TabbedContent).active == "tab-history"
