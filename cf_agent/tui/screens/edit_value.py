"""Type a new value for one feature of the CF; the review screen re-verifies it at once."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from cf_agent.data.spec import Feature
from cf_agent.tui.formatting import format_actionability, format_plain


class EditValueScreen(ModalScreen[str | None]):
    """Shows the feature's meaning, range and actionability; returns the typed text."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, feature: Feature, factual: Any, current: Any) -> None:
        super().__init__()
        self.feature = feature
        self.factual = factual
        self.current = current

    def compose(self) -> ComposeResult:
        feature = self.feature
        unit = f" {feature.unit}" if feature.unit else ""
        with Vertical(classes="dialog"):
            yield Label(f"Edit {feature.name}", classes="dialog-title")
            yield Label(feature.description, classes="dialog-hint")
            yield Label(
                f"range: {feature.describe_range()} · {format_actionability(feature)}",
                classes="dialog-hint",
            )
            yield Label(f"factual: {format_plain(self.factual)}{unit}", classes="dialog-hint")
            yield Input(value=str(self.current), id="edit-input")
            yield Label("Enter to re-verify · Esc to cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
