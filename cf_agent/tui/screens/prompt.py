"""A one-line question in a dialog: a rejection reason, a note, an export path."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class TextPromptScreen(ModalScreen[str | None]):
    """Returns the typed text on Enter, None on Escape; `required` refuses empty text."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, title: str, placeholder: str = "", value: str = "", required: bool = True
    ) -> None:
        super().__init__()
        self.prompt_title = title
        self.placeholder = placeholder
        self.initial = value
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt_title, classes="dialog-title")
            yield Input(value=self.initial, placeholder=self.placeholder, id="prompt-input")
            yield Label("Enter to save · Esc to cancel", id="prompt-hint", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.required and not text:
            self.query_one("#prompt-hint", Label).update("Type something first (Esc to cancel)")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
