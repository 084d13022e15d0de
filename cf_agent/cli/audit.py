"""`cf-agent audit ...` and `cf-agent tui`: read, export and verify the audit log; review."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cf_agent.cli.app import app, audit_app, console, err_console


@audit_app.command("list")
def audit_list(db: Annotated[Path, typer.Option(help="Audit log (SQLite).")]) -> None:
    """List runs."""
    from cf_agent.services import open_audit

    table = Table("run", "started", "command", "model", "prompt", "status")
    for r in open_audit(db).runs():
        table.add_row(r.run_id, r.started_at, r.command, r.model_string, r.prompt_name, r.status)
    console.print(table)


@audit_app.command("show")
def audit_show(
    db: Annotated[Path, typer.Option(help="Audit log (SQLite).")],
    run_id: Annotated[str | None, typer.Option("--run", help="Only this run.")] = None,
    event_type: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    query_id: Annotated[str | None, typer.Option("--query", help="Only this query.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many events.")] = 50,
) -> None:
    """Print events, oldest first."""
    from cf_agent.services import open_audit

    store = open_audit(db)
    for ev in store.events(run_id=run_id, type=event_type, query_id=query_id, limit=limit):
        console.print(f"[bold]{ev.id}[/] {ev.ts} {ev.type} query={ev.query_id}")
        console.print_json(data=ev.payload)


@audit_app.command("export")
def audit_export(
    db: Annotated[Path, typer.Option(help="Audit log (SQLite).")],
    out: Annotated[Path, typer.Option(help=".jsonl or .csv")],
    run_id: Annotated[str | None, typer.Option("--run", help="Only this run.")] = None,
) -> None:
    """Export events to JSONL or CSV."""
    from cf_agent.audit.export import export_events
    from cf_agent.services import open_audit

    count = export_events(open_audit(db), out, run_id=run_id)
    console.print(f"exported {count} events to {out}")


@audit_app.command("export-cfs")
def audit_export_cfs(
    db: Annotated[Path, typer.Option(help="Audit log (SQLite).")],
    run_id: Annotated[str, typer.Option("--run", help="Run whose CFs to export.")],
    out: Annotated[Path, typer.Option(help=".csv or .parquet")],
    reviewed_only: Annotated[bool, typer.Option(help="Only CFs a reviewer accepted.")] = False,
) -> None:
    """Export a run's accepted CFs with the reviewers' decisions (rejected ones left out)."""
    from cf_agent.review.export import export_accepted_cfs
    from cf_agent.services import open_audit

    result = export_accepted_cfs(open_audit(db), run_id, out, reviewed_only=reviewed_only)
    console.print(f"exported {result.rows} CFs ({result.reviewed} reviewer-accepted) to {out}")


@app.command()
def tui(
    db: Annotated[Path, typer.Option(help="Audit log (SQLite).")] = Path("audit.db"),
    run_id: Annotated[str | None, typer.Option("--run", help="Open this run's queue.")] = None,
    reviewer: Annotated[
        str | None, typer.Option(help="Name on decisions (else $CF_AGENT_REVIEWER or $USER).")
    ] = None,
) -> None:
    """Review CFs and the audit log in a terminal UI; decisions go to the audit log."""
    from cf_agent.tui.app import run_tui

    run_tui(db, run_id=run_id, reviewer=reviewer)


@audit_app.command("verify")
def audit_verify(db: Annotated[Path, typer.Option(help="Audit log (SQLite).")]) -> None:
    """Check the hash chain; report the first broken link."""
    from cf_agent.services import open_audit

    result = open_audit(db).verify()
    if not result.ok:
        err_console.print(
            f"[red]broken chain[/] at event {result.broken_event_id}: {result.problem}"
        )
        raise typer.Exit(11)
    console.print(f"ok: {result.events_checked} events, chain intact")
