"""Helpers for Pilot tests of the review UI."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widget import Widget


async def settle(pilot: Pilot[None]) -> None:
    """Wait until no worker runs and every message they posted has been handled."""
    for _ in range(20):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if not any(worker.is_running for worker in pilot.app.workers):
            return


def text_of(widget: Widget) -> str:
    """What a widget shows, as plain text."""
    return str(widget.render())
