"""The audit log's event stream, filtered by run, event type and query, and searched."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Select, Static
from textual.worker import get_current_worker

from cf_agent.audit.store import (
    AuditEvent,
    EventType,
)
from cf_agent.tui.formatting import clock_time
from cf_agent.tui.widgets.columns import add_fitted_columns

if TYPE_CHECKING:
    from cf_agent.tui.app import CfAgentApp

EVENT_TYPES = (
    EventType.RUN_STARTED,
    EventType.PROPOSAL,
    EventType.VERDICT,
    EventType.ACCEPTED,
    EventType.GAVE_UP,
    EventType.REVIEW,
    EventType.RUN_RESUMED,
    EventType.RUN_FINISHED,
    EventType.ERROR,
)
COLUMNS = {"#": 4, "Time (UTC)": 14, "Type": 11, "Query": 8, "Summary": None}
MAX_EVENTS = 500


def event_summary(event: AuditEvent) -> str:
    """One line on what an event says, by type."""
    p = event.payload
    if event.type == EventType.RUN_STARTED:
        queries = p.get("config", {}).get("queries", "?")
        return f"{p.get('model_string')} · {p.get('prompt_name')} · {queries} queries"
    if event.type == EventType.PROPOSAL:
        head = f"round {p.get('round')} · {p.get('source')}"
        if p.get("values") is None:
            return f"{head} · unusable: {p.get('error')}"
        return f"{head} · {p.get('rationale') or 'no rationale'}"
    if event.type == EventType.VERDICT:
        failed = [v["check"] for v in p.get("verdicts", []) if not v.get("passed")]
        result = "passed" if p.get("passed") else f"failed: {', '.join(failed) or 'no usable CF'}"
        return f"round {p.get('round')} · {result}"
    if event.type in (EventType.ACCEPTED, EventType.GAVE_UP):
        found = len(p.get("accepted", []))
        return f"{p.get('status')} after {p.get('rounds')} round(s) · {found} CF(s)"
    if event.type == EventType.REVIEW:
        why = p.get("reason") or p.get("note") or ""
        return f"{p.get('reviewer')} · {p.get('action')}" + (f" · {why}" if why else "")
    return json.dumps(p, ensure_ascii=False)[:120]


def event_detail(event: AuditEvent) -> Text:
    text = Text(
        f"event {event.id} · run {event.run_id} · seq {event.seq} · {event.ts} · {event.type}"
        + (f" · query {event.query_id}" if event.query_id else "")
        + "\n",
        style="bold",
    )
    text.append(json.dumps(event.payload, indent=2, ensure_ascii=False, sort_keys=True))
    return text


class AuditScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, run_id: str | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.shown_events: dict[int, AuditEvent] = {}

    @property
    def cf_app(self) -> CfAgentApp:
        return cast("CfAgentApp", self.app)

    def compose(self) -> ComposeResult:
        runs = [(f"{r.run_id} {r.model_string}", r.run_id) for r in self.cf_app.store.runs()]
        yield Header()
        with Horizontal(classes="filter-bar"):
            yield Select(
                runs,
                prompt="all runs",
                value=self.run_id or Select.NULL,
                compact=True,
                id="run-filter",
            )
            yield Select(
                [(t, t) for t in EVENT_TYPES], prompt="all types", compact=True, id="type-filter"
            )
            yield Input(placeholder="query id", compact=True, id="query-filter")
            yield Input(placeholder="search payloads (/)", compact=True, id="search-filter")
        yield DataTable(id="events-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="event-detail-scroll"):
            yield Static(id="event-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "audit log"
        table = self.query_one("#events-table", DataTable)
        add_fitted_columns(table, COLUMNS, self.app.size.width, min_flex=24)
        table.focus()
        self.action_reload()

    def filters(self) -> dict[str, Any]:
        run = self.query_one("#run-filter", Select).value
        kind = self.query_one("#type-filter", Select).value
        query = self.query_one("#query-filter", Input).value.strip()
        search = self.query_one("#search-filter", Input).value.strip()
        return {
            "run_id": run if isinstance(run, str) else None,
            "type": kind if isinstance(kind, str) else None,
            "query_id": query or None,
            "search": search or None,
        }

    def action_reload(self) -> None:
        self.load_events(self.filters())

    def action_search(self) -> None:
        self.query_one("#search-filter", Input).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        self.action_reload()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.action_reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#events-table", DataTable).focus()

    @work(thread=True, exclusive=True, group="audit")
    def load_events(self, filters: dict[str, Any]) -> None:
        with self.cf_app.open_store() as store:
            events = store.events(limit=MAX_EVENTS, **filters)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.show_events, events)

    def show_events(self, events: list[AuditEvent]) -> None:
        if not self.is_attached:  # left before the worker finished
            return
        self.shown_events = {e.id: e for e in events}
        table = self.query_one("#events-table", DataTable)
        table.clear()
        for event in events:
            table.add_row(
                str(event.id),
                clock_time(event.ts),
                event.type,
                event.query_id or "",
                event_summary(event),
                key=str(event.id),
            )
        detail = self.query_one("#event-detail", Static)
        if not events:
            detail.update("No events match these filters.")
        elif len(events) == MAX_EVENTS:
            self.notify(f"Showing the first {MAX_EVENTS} matching events; narrow the filters.")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key is not None and int(key) in self.shown_events:
            self.query_one("#event-detail", Static).update(
                event_detail(self.shown_events[int(key)])
            )
