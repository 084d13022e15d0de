"""One query under review: factual vs CF, the verdicts, the agent's history, and the decisions.

The audit log alone fills the screen; the run's data, spec and classifier load in a worker and
add units, actionability, the factual row, and what editing and "another CF" need. If they
have moved, the screen says so and keeps what the log can show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Footer,
    Header,
    Label,
    ProgressBar,
    Static,
    TabbedContent,
    TabPane,
)
from textual.worker import Worker, WorkerState

from cf_agent.agent.state import CFState
from cf_agent.data.spec import FeatureSpec
from cf_agent.errors import CfAgentError
from cf_agent.review.another import another_counterfactual
from cf_agent.review.decisions import REVIEWER_SOURCE, ReviewAction, record_decision
from cf_agent.review.edit import edit_values
from cf_agent.review.history import (
    CounterfactualRecord,
    QueryHistory,
    load_query_history,
    values_key,
)
from cf_agent.review.materials import RunMaterials
from cf_agent.tui.formatting import FAILED_STYLE, verdict_marks
from cf_agent.tui.screens.edit_value import EditValueScreen
from cf_agent.tui.screens.prompt import TextPromptScreen
from cf_agent.tui.widgets.cf_table import CFTable
from cf_agent.tui.widgets.decisions import DecisionsView
from cf_agent.tui.widgets.history import HistoryView
from cf_agent.tui.widgets.review_summary import ReviewSummary, ShownCF, reviewable_cfs
from cf_agent.tui.widgets.verdicts import VerdictPanel

if TYPE_CHECKING:
    from cf_agent.tui.app import CfAgentApp


@dataclass(frozen=True)
class LoadedInputs:
    spec: FeatureSpec | None
    factual: dict[str, Any] | None
    factual_source: str
    problems: list[str]


class ReviewScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("a", "accept", "Accept"),
        Binding("r", "reject", "Reject"),
        Binding("e", "edit", "Edit"),
        Binding("g", "another", "Another"),
        Binding("n", "note", "Note"),
        Binding("left_square_bracket", "step_cf(-1)", "Prev", key_display="["),
        Binding("right_square_bracket", "step_cf(1)", "Next", key_display="]"),
        Binding("1", "tab('tab-cf')", "CF", show=False),
        Binding("2", "tab('tab-history')", "History", show=False),
        Binding("3", "tab('tab-decisions')", "Decisions", show=False),
    ]

    def __init__(self, run_id: str, query_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.query_id = query_id
        self.history = QueryHistory(query_id=query_id)
        self.materials: RunMaterials | None = None
        self.inputs = LoadedInputs(None, None, "", [])
        self.options: list[ShownCF] = []
        self.index = 0

    @property
    def cf_app(self) -> CfAgentApp:
        return cast("CfAgentApp", self.app)

    @property
    def current(self) -> ShownCF | None:
        return self.options[self.index] if self.options else None

    def compose(self) -> ComposeResult:
        yield Header()
        yield ReviewSummary(id="review-summary")
        yield Static(id="review-warning")
        with TabbedContent(initial="tab-cf"):
            with TabPane("Counterfactual", id="tab-cf"), VerticalScroll(id="cf-pane"):
                yield CFTable(id="cf-table")
                yield VerdictPanel(id="verdicts")
            with TabPane("History", id="tab-history"), VerticalScroll():
                yield HistoryView(id="history")
            with TabPane("Decisions", id="tab-decisions"), VerticalScroll():
                yield DecisionsView(id="decisions")
        with Horizontal(id="agent-progress"):
            yield ProgressBar(id="agent-bar", show_eta=False, show_percentage=False)
            yield Label(id="agent-status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"run {self.run_id} · query {self.query_id}"
        self.reload_query()
        self.query_one(CFTable).focus()
        self.load_inputs(self.cf_app.materials(self.cf_app.store.run(self.run_id)), self.history)

    # -- loading --------------------------------------------------------------------------

    def reload_query(self, select: dict[str, Any] | None = None) -> None:
        """Re-read this query's events; keep the CF shown, or show `select`."""
        keep = select or (self.current.values if self.current else None)
        self.history = load_query_history(self.cf_app.store, self.run_id, self.query_id)
        self.options = reviewable_cfs(self.history)
        keys = [values_key(cf.values) for cf in self.options]
        self.index = keys.index(values_key(keep)) if keep and values_key(keep) in keys else 0
        self.render_all()

    @work(thread=True, exclusive=True, group="inputs")
    def load_inputs(self, materials: RunMaterials, query: QueryHistory) -> None:
        """Spec, factual row and verifiers; whatever is missing becomes a visible problem."""
        problems: list[str] = []
        spec, factual, source = None, None, ""
        try:
            problems.extend(materials.prepare())
        except CfAgentError as exc:
            problems.append(f"{exc.message} · editing and 'another CF' are off")
        try:
            spec = materials.spec
        except CfAgentError:
            spec = None  # already reported: the checks need the spec too
        try:
            factual, source = materials.factual(query)
        except CfAgentError as exc:
            problems.append(exc.message)
        self.app.call_from_thread(
            self.show_inputs, materials, LoadedInputs(spec, factual, source, problems)
        )

    def show_inputs(self, materials: RunMaterials, inputs: LoadedInputs) -> None:
        if not self.is_attached:  # the reviewer left before the files loaded
            return
        self.materials, self.inputs = materials, inputs
        warning = self.query_one("#review-warning", Static)
        warning.update(Text("\n".join(f"! {p}" for p in inputs.problems), style=FAILED_STYLE))
        warning.display = bool(inputs.problems)
        self.render_all()

    # -- drawing --------------------------------------------------------------------------

    def render_all(self) -> None:
        spec, factual = self.inputs.spec, self.inputs.factual or self.history.factual_from_prompt
        cf = self.current
        self.query_one(ReviewSummary).show(self.history, self.options, self.index)
        self.query_one(CFTable).show(
            spec, factual, cf.values if cf else None, cf.verdicts if cf else []
        )
        self.query_one(VerdictPanel).show(
            cf.label if cf else "No CF to review: ask the agent for one (g)",
            cf.verdicts if cf else [],
            self.inputs.factual_source,
        )
        self.query_one(HistoryView).show(spec, factual, self.history)
        self.query_one(DecisionsView).show(spec, factual, self.history)

    # -- actions --------------------------------------------------------------------------

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_step_cf(self, step: int) -> None:
        if self.options:
            self.index = (self.index + step) % len(self.options)
            self.render_all()

    def decide(self, action: ReviewAction, **fields: Any) -> None:
        """Append one review event for the CF shown; re-read the query to show it."""
        cf = self.current
        values = cf.values if cf is not None and action != "note" else None
        try:
            record_decision(
                self.cf_app.store,
                self.run_id,
                self.query_id,
                action,
                self.cf_app.reviewer,
                values=values,
                verdicts=cf.verdicts if values is not None and cf is not None else None,
                source=cf.source if values is not None and cf is not None else None,
                **fields,
            )
        except CfAgentError as exc:
            self.notify(str(exc), title=f"Cannot {action}", severity="error")
            return
        self.reload_query()

    def action_accept(self) -> None:
        cf = self.current
        if cf is None:
            self.notify("There is no CF to accept.", severity="warning")
            return
        self.decide("accept")
        failed = [v.check for v in cf.verdicts if not v.passed]
        if failed:
            self.notify(f"Accepted although {', '.join(failed)} failed.", severity="warning")
        else:
            self.notify(f"Accepted the CF for {self.query_id}.")

    def action_reject(self) -> None:
        if self.current is None:
            self.notify("There is no CF to reject.", severity="warning")
            return

        def reject(reason: str | None) -> None:
            if reason:
                self.decide("reject", reason=reason)
                self.notify(f"Rejected the CF for {self.query_id}.")

        self.app.push_screen(TextPromptScreen("Why reject this CF?", "reason"), reject)

    def action_note(self) -> None:
        def note(text: str | None) -> None:
            if text:
                self.decide("note", note=text)
                self.notify("Note saved.")

        self.app.push_screen(TextPromptScreen(f"Note on {self.query_id}:", "note"), note)

    def _ready(self, what: str) -> RunMaterials | None:
        if self.materials is None:
            self.notify(f"Still loading the run's data; {what} in a moment.", severity="warning")
            return None
        if self.inputs.spec is None or self.inputs.factual is None:
            self.notify(f"Cannot {what}: " + "; ".join(self.inputs.problems), severity="error")
            return None
        return self.materials

    def action_edit(self) -> None:
        materials, cf = self._ready("edit"), self.current
        name = self.query_one(CFTable).highlighted_feature
        if (
            materials is None
            or self.inputs.spec is None
            or self.inputs.factual is None
            or name is None
        ):
            return
        base = cf.values if cf is not None else self.inputs.factual
        feature = self.inputs.spec.feature(name)

        def apply(text: str | None) -> None:
            if text is not None:
                self.apply_edit(materials, base, name, text)

        self.app.push_screen(
            EditValueScreen(feature, self.inputs.factual.get(name), base.get(name)), apply
        )

    def apply_edit(
        self, materials: RunMaterials, base: dict[str, Any], name: str, text: str
    ) -> None:
        """Set one value, run all three verifiers, log the edit, show the edited CF."""
        assert self.inputs.spec is not None and self.inputs.factual is not None
        try:
            values = edit_values(self.inputs.spec, base, name, text)
            verdicts = materials.verifiers.check(self.inputs.factual, values)
        except CfAgentError as exc:
            self.notify(str(exc), title="Edit not applied", severity="error")
            return
        record_decision(
            self.cf_app.store,
            self.run_id,
            self.query_id,
            "edit",
            self.cf_app.reviewer,
            values=values,
            verdicts=verdicts,
            source=REVIEWER_SOURCE,
        )
        self.reload_query(select=values)
        marks = verdict_marks(verdicts)
        self.notify(
            f"Re-verified: {marks}",
            severity="information" if all(v.passed for v in verdicts) else "warning",
        )

    def action_another(self) -> None:
        materials = self._ready("ask for another CF")
        if materials is None or self.inputs.factual is None:
            return
        if any(w.group == "agent" and w.is_running for w in self.workers):
            self.notify("The agent is already working on this person.", severity="warning")
            return
        record_decision(
            self.cf_app.store, self.run_id, self.query_id, "request_cf", self.cf_app.reviewer
        )
        self.reload_query()
        self.query_one("#agent-progress").display = True
        self.query_one("#agent-status", Label).update("agent: starting…")
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.ask_agent(materials, dict(self.inputs.factual), self.history.counterfactuals)

    @work(thread=True, exclusive=True, group="agent", exit_on_error=False)
    def ask_agent(
        self,
        materials: RunMaterials,
        factual: dict[str, Any],
        known: list[CounterfactualRecord],
    ) -> CFState:
        """Runs on after the reviewer leaves the screen; its events are in the log either way."""
        proposer = self.cf_app.proposer_factory(materials)
        return another_counterfactual(
            materials,
            self.cf_app.db,
            self.query_id,
            factual,
            known,
            proposer,
            progress=lambda done, total, text: self.app.call_from_thread(
                self.show_progress, done, total, text
            ),
        )

    def show_progress(self, done: int, total: int, text: str) -> None:
        if not self.is_attached:
            return
        self.query_one(ProgressBar).update(total=total, progress=done)
        self.query_one("#agent-status", Label).update(f"agent: {text}")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "agent" or event.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
        ):
            return
        self.query_one("#agent-progress").display = False
        before = {values_key(cf.values) for cf in self.history.counterfactuals}
        self.reload_query()
        if event.state == WorkerState.ERROR:
            self.notify(
                str(event.worker.error), title="The agent failed", severity="error", timeout=10
            )
            return
        new = [cf for cf in self.history.counterfactuals if values_key(cf.values) not in before]
        if new:
            self.reload_query(select=new[0].values)
            self.notify(f"The agent found another CF for {self.query_id}.")
        else:
            self.notify("The agent found no further CF this time.", severity="warning")
