"""One run's queries: the agent's status, the review status, the changes, with filters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Select, Static

from cf_agent.data.spec import FeatureSpec
from cf_agent.errors import CfAgentError
from cf_agent.review.export import export_accepted_cfs
from cf_agent.review.history import QueryHistory, RunHistory, load_run_history
from cf_agent.review.materials import RunMaterials
from cf_agent.tui.formatting import change_summary
from cf_agent.tui.screens.prompt import TextPromptScreen
from cf_agent.tui.screens.review import ReviewScreen
from cf_agent.tui.widgets.columns import add_fitted_columns

if TYPE_CHECKING:
    from cf_agent.tui.app import CfAgentApp

COLUMNS = {
    "Query": 8,
    "Agent": 8,
    "CFs": 3,
    "Rounds": 6,
    "Review": 10,
    "By": 8,
    "Changes (first CF)": None,
}
STATUS_FILTERS: dict[str, tuple[str, Callable[[QueryHistory], bool]]] = {
    "all": ("All queries", lambda q: True),
    "accepted": ("Agent found a CF", lambda q: bool(q.counterfactuals)),
    "gave_up": ("Agent gave up", lambda q: q.status == "gave_up"),
    "unreviewed": ("Unreviewed", lambda q: q.review_state == "unreviewed"),
    "reviewed": ("Reviewed", lambda q: q.review_state != "unreviewed"),
    "rejected": ("Rejected", lambda q: q.review_state == "rejected"),
}


def _spec_or_none(materials: RunMaterials) -> FeatureSpec | None:
    try:
        return materials.spec
    except CfAgentError:
        return None


class QueueScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("f", "next_filter", "Filter"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("x", "export", "Export CFs"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.history: RunHistory | None = None
        self.spec: FeatureSpec | None = None

    @property
    def cf_app(self) -> CfAgentApp:
        return cast("CfAgentApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="queue-filters", classes="filter-bar"):
            yield Select(
                [(label, key) for key, (label, _) in STATUS_FILTERS.items()],
                value="all",
                allow_blank=False,
                compact=True,
                id="status-filter",
            )
            yield Input(placeholder="query id contains… (/)", compact=True, id="query-filter")
        yield DataTable(id="queue-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="queue-summary", classes="detail-line")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"run {self.run_id}"
        table = self.query_one("#queue-table", DataTable)
        add_fitted_columns(table, COLUMNS, self.app.size.width)
        table.focus()
        self.action_reload()

    def on_screen_resume(self) -> None:
        if self.history is not None:
            self.action_reload()

    def action_reload(self) -> None:
        self.load_queue(self.cf_app.materials(self.cf_app.store.run(self.run_id)))

    @work(thread=True, exclusive=True, group="queue")
    def load_queue(self, materials: RunMaterials) -> None:
        with self.cf_app.open_store() as store:
            history = load_run_history(store, self.run_id)
        spec = _spec_or_none(materials)
        self.app.call_from_thread(self.show_queue, history, spec)

    def show_queue(self, history: RunHistory, spec: FeatureSpec | None) -> None:
        if not self.is_attached:  # left before the worker finished
            return
        self.history, self.spec = history, spec
        self.refill()

    def visible_queries(self) -> list[QueryHistory]:
        if self.history is None:
            return []
        status = self.query_one("#status-filter", Select).value
        _, keep = STATUS_FILTERS.get(str(status), STATUS_FILTERS["all"])
        text = self.query_one("#query-filter", Input).value.strip().lower()
        return [
            q
            for q in self.history.queries.values()
            if keep(q) and (not text or text in q.query_id.lower())
        ]

    def refill(self) -> None:
        table = self.query_one("#queue-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        shown = self.visible_queries()
        for query in shown:
            cfs = query.counterfactuals
            decisions = query.verdict_decisions
            outcome = query.outcome
            table.add_row(
                query.query_id,
                query.status,
                str(len(cfs)),
                str(outcome.rounds) if outcome else "—",
                query.review_state,
                decisions[-1].reviewer if decisions else "",
                change_summary(self.spec, query.factual_from_prompt, cfs[0].values) if cfs else "",
                key=query.query_id,
            )
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))
        self.query_one("#queue-summary", Static).update(self.summary(len(shown)))

    def summary(self, shown: int) -> str:
        history = self.history
        if history is None:
            return ""
        rate = history.success_rate
        success = "—" if rate is None else f"{rate:.0%}"
        return (
            f"{len(history.queries)} queries · success {success} · {history.reviewed} reviewed"
            f" · showing {shown} · enter reviews a query"
        )

    def on_select_changed(self, event: Select.Changed) -> None:
        self.refill()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#queue-table", DataTable).focus()

    def action_next_filter(self) -> None:
        select = self.query_one("#status-filter", Select)
        keys = list(STATUS_FILTERS)
        select.value = keys[(keys.index(str(select.value)) + 1) % len(keys)]

    def action_search(self) -> None:
        self.query_one("#query-filter", Input).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(ReviewScreen(self.run_id, event.row_key.value))

    def action_export(self) -> None:
        default = self.cf_app.db.parent / f"accepted-cfs-{self.run_id}.csv"

        def export(path: str | None) -> None:
            if path:
                self.export_cfs(Path(path))

        self.app.push_screen(
            TextPromptScreen("Export accepted CFs to (.csv or .parquet):", value=str(default)),
            export,
        )

    @work(thread=True, exclusive=True, group="export")
    def export_cfs(self, path: Path) -> None:
        try:
            with self.cf_app.open_store() as store:
                result = export_accepted_cfs(store, self.run_id, path)
        except CfAgentError as exc:
            self.app.call_from_thread(
                self.app.notify, str(exc), title="Export failed", severity="error", timeout=10
            )
            return
        self.app.call_from_thread(
            self.app.notify,
            f"{result.rows} CFs ({result.reviewed} accepted by a reviewer) to {result.path}",
            title="Exported",
        )
