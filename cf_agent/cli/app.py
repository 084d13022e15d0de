"""The Typer apps the command modules register on, the two consoles and the global options."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from cf_agent.cli.display import quiet_libraries

app = typer.Typer(
    help="Verified counterfactual explanations for health classifiers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    help="Data sets: the bundled demo cohort and the AI-READI adapter.", no_args_is_help=True
)
audit_app = typer.Typer(help="Read, export and verify the audit log.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(audit_app, name="audit")
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _global_options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show library warnings and progress bars.")
    ] = False,
) -> None:
    quiet_libraries(verbose)
