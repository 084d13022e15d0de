"""Every run in the audit log: when, which model and prompt, how many queries, how well."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from cf_agent.review.history import RunHistory, load_run_overviews
from cf_agent.tui.formatting import short_time
from cf_agent.tui.screens.queue import QueueScreen
from cf_agent.tui.widgets.columns import add_fitted_columns

if TYPE_CHECKING:
    from cf_agent.tui.app import CfAgentApp

COLUMNS = {
    "Started (UTC)": 16,
    "Model": None,
    "Prompt": 10,
    "Success": 9,
    "Reviewed": 8,
    "Status": 9,
}


def success_text(run: RunHistory) -> str:
    """'75% of 4': share of queries with a CF, of the queries planned."""
    rate = run.success_rate
    return f"{'—' if rate is None else f'{rate:.0%}'} of {run.planned}"


class RunsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "reload", "Reload")]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[RunHistory] = []

    @property
    def cf_app(self) -> CfAgentApp:
        return cast("CfAgentApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Runs · enter opens a run's queue", classes="screen-title")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="run-detail", classes="detail-line")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        add_fitted_columns(table, COLUMNS, self.app.size.width)
        self.action_reload()

    def on_screen_resume(self) -> None:
        if self.runs:
            self.action_reload()

    def action_reload(self) -> None:
        self.load_runs()

    @work(thread=True, exclusive=True, group="runs")
    def load_runs(self) -> None:
        with self.cf_app.open_store() as store:
            runs = load_run_overviews(store)
        self.app.call_from_thread(self.show_runs, runs)

    def show_runs(self, runs: list[RunHistory]) -> None:
        if not self.is_attached:  # left before the worker finished
            return
        self.runs = runs
        table = self.query_one("#runs-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for item in reversed(runs):  # newest first
            run = item.run
            table.add_row(
                short_time(run.started_at),
                run.model_string,
                run.prompt_name,
                success_text(item),
                f"{item.reviewed}/{item.planned}",
                run.status,
                key=run.run_id,
            )
        if not runs:
            self.query_one("#run-detail", Static).update("No runs in this audit log yet.")
        elif table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        run_id = event.row_key.value
        item = next((r for r in self.runs if r.run.run_id == run_id), None)
        if item is not None:
            data = item.run.config.get("data", "?")
            self.query_one("#run-detail", Static).update(
                f"run {item.run.run_id} · {item.run.command} · data {data}"
            )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.open_run(event.row_key.value)

    def open_run(self, run_id: str) -> None:
        self.app.push_screen(QueueScreen(run_id))
