"""Keys, statuses and where decisions go, in one page."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# cf-agent review

Review the agent's counterfactuals (CFs) before any becomes a suggestion. Every decision is
appended to the audit log as a `review` event with your name and the time.

## Everywhere
| Key | Action |
|---|---|
| `?` | this help |
| `l` | audit log (event stream with filters) |
| `esc` | back |
| `q` | quit |

## Runs and queue
| Key | Action |
|---|---|
| `enter` | open the run / the query |
| `f` | next status filter (all, accepted, gave up, unreviewed, reviewed, rejected) |
| `/` | search query ids |
| `x` | export the run's accepted CFs (CSV or Parquet) |
| `r` | reload |

## Review
| Key | Action |
|---|---|
| `a` | accept the CF shown |
| `r` | reject it, with a reason |
| `e` | edit the highlighted feature's value; all three verifiers re-run at once |
| `g` | ask the agent for another CF for this person (runs in the background) |
| `n` | add a note |
| `[` `]` | previous / next CF |
| `1` `2` `3` | counterfactual / history / decisions tab |

Changed values are **yellow**; a feature a failed verifier names is marked **✗**.
*Actionability*: immutable, ↑ only (may only rise), ↓ only, free; ± is the largest realistic
change per intervention.

Agent status: *accepted* (k CFs passed every check), *partial* (fewer than k), *gave_up*.
Review status: the latest accept or reject of any of the query's CFs.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
