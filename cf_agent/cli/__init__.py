"""The `cf-agent` command line: thin Typer commands that parse, call the API or one service and
print.

One module per command group registers its commands on the apps in `app.py`: data (data demo,
data aireadi, train), run, evaluate (eval), augment, finetune, audit (audit ..., tui).
`options.py` makes flags from the options models; `display.py` holds what is shown (quiet
libraries, progress, named figures) and `tables.py` the tables built from services' outcomes.
"""

from __future__ import annotations

import signal
import sys

import typer
from rich.markup import escape

from cf_agent.cli import audit, augment, data, evaluate, finetune, run  # noqa: F401 (registers)
from cf_agent.cli.app import app, err_console
from cf_agent.errors import CfAgentError

__all__ = ["app", "main"]


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that cleanup (`finally`, temp dirs) still runs."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def main() -> None:
    """Console entry point: CfAgentError -> message, fix and its exit code; no traceback."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        code = app(standalone_mode=False)  # typer.Exit(n) comes back as n here
    except Terminated:
        err_console.print("terminated (SIGTERM): finished work is kept; rerun to resume a batch")
        sys.exit(128 + signal.SIGTERM)
    except CfAgentError as exc:
        err_console.print(f"[red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.fix:
            err_console.print(f"[cyan]fix:[/] {escape(exc.fix)}", highlight=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: bad option values, unknown options
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"[red]error:[/] {exc.format_message()}", highlight=False)
        sys.exit(exc.exit_code)
    if isinstance(code, int) and code:
        sys.exit(code)
