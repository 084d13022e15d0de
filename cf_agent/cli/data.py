"""`cf-agent data demo | aireadi` and `cf-agent train`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cf_agent.cli.app import app, console, data_app, err_console
from cf_agent.cli.display import figures_table, progress_display


@data_app.command("demo")
def data_demo(
    out: Annotated[Path, typer.Option(help="Directory for demo.csv and its spec files.")],
    n: Annotated[int, typer.Option(help="Number of people.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write the seeded AI-READI-like demo cohort and its feature specs."""
    from cf_agent.data.demo import write_demo

    files = write_demo(out, n=n, seed=seed)
    console.print(f"wrote {n} people to {files.csv}")
    console.print(f"spec (abnormal glucose): {files.spec}; spec (high stress): {files.stress_spec}")


@data_app.command("aireadi")
def data_aireadi(
    root: Annotated[Path, typer.Option(help="AI-READI dataset folder (has participants.tsv).")],
    out: Annotated[Path, typer.Option(help="Directory for aireadi.csv, its specs and log.")],
    min_wear_days: Annotated[int, typer.Option(min=1, help="Fewest valid wear days.")] = 3,
    min_nights: Annotated[int, typer.Option(min=1, help="Fewest nights of staged sleep.")] = 2,
    min_cgm_days: Annotated[int, typer.Option(min=1, help="Fewest days of CGM data.")] = 3,
) -> None:
    """Build the demo cohort's feature table and specs from a local AI-READI copy."""
    from cf_agent.data.aireadi import AireadiOptions, write_aireadi

    options = AireadiOptions(
        min_wear_days=min_wear_days, min_nights=min_nights, min_cgm_days=min_cgm_days
    )
    with progress_display(err_console, "AI-READI participants") as bar:
        files = write_aireadi(
            root, out, options, progress=lambda done, total, _person: bar.update(done, total)
        )
    console.print(f"wrote {files.written} of {files.participants} participants to {files.csv}")
    console.print(f"skipped {files.skipped}, clipped {files.clipped} values: see {files.log}")


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="CSV or Parquet file.")],
    spec: Annotated[Path, typer.Option(help="Feature spec (.toml).")],
    out: Annotated[Path, typer.Option(help="Directory for the model bundle.")],
    kind: Annotated[str, typer.Option(help="gbm, logreg, rf or mlp.")] = "gbm",
    test_size: Annotated[float, typer.Option(help="Share of people held out.")] = 0.25,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train the classifier to explain; keep its train/test split on disk."""
    from cf_agent.services import train_and_save

    metadata = train_and_save(data, spec, out, kind=kind, test_size=test_size, seed=seed)
    console.print(
        figures_table(f"classifier ({metadata.kind}) on the test split", metadata.metrics, {})
    )
    console.print(f"saved to {out}")
