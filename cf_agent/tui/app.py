"""CfAgentApp: the review UI over one audit log (`cf-agent tui`)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from cf_agent.audit.store import AuditRun, AuditStore
from cf_agent.review.another import ProposerFactory, run_proposer
from cf_agent.review.decisions import reviewer_name
from cf_agent.review.materials import RunMaterials
from cf_agent.services import open_audit
from cf_agent.tui.screens.audit import AuditScreen
from cf_agent.tui.screens.help import HelpScreen
from cf_agent.tui.screens.queue import QueueScreen
from cf_agent.tui.screens.runs import RunsScreen


class CfAgentApp(App[None]):
    """Runs -> queue -> review, plus the audit log; decisions go to the same log.

    `proposer_factory` builds the proposer for "another CF" from a run's materials; the default
    loads the run's model. Tests pass a scripted one.
    """

    TITLE = "cf-agent review"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = False
    # Textual declares this as an instance variable, so it cannot be a ClassVar here.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (126, "-wide")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("l", "audit_log", "Audit log"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        db: Path,
        run_id: str | None = None,
        reviewer: str | None = None,
        proposer_factory: ProposerFactory = run_proposer,
    ) -> None:
        super().__init__()
        self.store: AuditStore = open_audit(db)
        if run_id is not None:
            self.store.run(run_id)
        self.db = db
        self.start_run_id = run_id
        self.reviewer = reviewer_name(reviewer)
        self.proposer_factory = proposer_factory
        self._materials: dict[str, RunMaterials] = {}

    def on_mount(self) -> None:
        self.push_screen(RunsScreen())
        if self.start_run_id is not None:
            self.push_screen(QueueScreen(self.start_run_id))

    def on_unmount(self) -> None:
        self.store.close()

    def open_store(self) -> AuditStore:
        """A connection of its own, for a worker thread (SQLite connections stay in one thread)."""
        return AuditStore(self.db)

    def materials(self, run: AuditRun) -> RunMaterials:
        """The run's data, spec and classifier, shared by its screens and loaded once."""
        if run.run_id not in self._materials:
            self._materials[run.run_id] = RunMaterials(run, self.db.parent)
        return self._materials[run.run_id]

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_audit_log(self) -> None:
        run_id = getattr(self.screen, "run_id", None)
        if not isinstance(self.screen, AuditScreen):
            self.push_screen(AuditScreen(run_id if isinstance(run_id, str) else None))


def run_tui(db: Path, run_id: str | None = None, reviewer: str | None = None) -> None:
    """Start the UI in this terminal; returns when the user quits."""
    CfAgentApp(db, run_id=run_id, reviewer=reviewer).run()
