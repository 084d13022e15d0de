"""`cf-agent augment`: the label-scarcity study."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cf_agent.cli.app import app, console, err_console
from cf_agent.cli.display import stage_bars
from cf_agent.cli.tables import augment_table
from cf_agent.errors import CfAgentError


@app.command()
def augment(
    data: Annotated[Path, typer.Option(help="CSV or Parquet file.")],
    spec: Annotated[Path, typer.Option(help="Feature spec (.toml).")],
    out: Annotated[Path, typer.Option(help="Directory for the report, CSVs, figure and rows.")],
    classifier: Annotated[
        Path | None, typer.Option(help="Bundle whose saved split to reuse (else a fresh one).")
    ] = None,
    classifier_kinds: Annotated[
        str, typer.Option(help="Classifier kinds scored, comma-separated: gbm, logreg, rf, mlp.")
    ] = "gbm,logreg,rf,mlp",
    teacher_kind: Annotated[
        str, typer.Option(help="Kind of the scarce model the CFs are made against and verified by.")
    ] = "gbm",
    keep: Annotated[str, typer.Option(help="Minority shares kept, comma-separated.")] = (
        "0.5,0.25,0.1"
    ),
    seeds: Annotated[int, typer.Option(help="Seeds per scenario.", min=1)] = 5,
    methods: Annotated[
        str, typer.Option(help="CF methods: baselines and LLM model strings, comma-separated.")
    ] = "search",
    resamplers: Annotated[
        str, typer.Option(help="smote, adasyn, borderline-smote, oversample; comma-separated.")
    ] = "smote",
    rows: Annotated[
        str, typer.Option(help="Rows each arm adds: counts and/or 'balance', comma-separated.")
    ] = "25,100",
    sources: Annotated[
        str, typer.Option(help="CF source rows: boundary, spread or diverse.")
    ] = "boundary",
    margin: Annotated[
        float, typer.Option(help="Use a CF only if p(minority) - p(other) >= this (teacher).")
    ] = 0.0,
    max_rounds: Annotated[int, typer.Option(help="LLM rounds before refinement.", min=1)] = 1,
    require_plausible: Annotated[bool, typer.Option(help="Use only plausible CFs.")] = True,
    time_limit: Annotated[float, typer.Option(help="Seconds a baseline may search per row.")] = (
        10.0
    ),
    test_size: Annotated[float, typer.Option(help="Fresh split: share held out.")] = 0.25,
    split_seed: Annotated[int, typer.Option(help="Fresh split: random seed.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Local generation batch size.")] = 8,
    overwrite: Annotated[bool, typer.Option(help="Discard an earlier study in --out.")] = False,
) -> None:
    """Label scarcity: does adding verified CFs recover the minority F1 (vs SMOTE, oversampling)?"""
    import shlex

    from pydantic import ValidationError

    from cf_agent.augment import AugmentOptions, run_study

    try:
        options = AugmentOptions.model_validate(
            {
                "data": data,
                "spec": spec,
                "out": out,
                "classifier": classifier,
                "classifier_kinds": classifier_kinds,
                "teacher_kind": teacher_kind,
                "keep": keep,
                "seeds": seeds,
                "methods": methods,
                "resamplers": resamplers,
                "rows": rows,
                "sources": sources,
                "margin": margin,
                "max_rounds": max_rounds,
                "require_plausible": require_plausible,
                "time_limit_s": time_limit,
                "test_size": test_size,
                "split_seed": split_seed,
                "batch_size": batch_size,
                "overwrite": overwrite,
                "command": shlex.join(["cf-agent", *sys.argv[1:]]),
            }
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        option = str(error["loc"][0]).removesuffix("_s").replace("_", "-")
        raise CfAgentError(f"--{option}: {error['msg']}", "see cf-agent augment --help") from None
    with stage_bars(err_console) as advance:
        outcome = run_study(
            options,
            progress=lambda label, done, total: advance("augmentation study", done, total, label),
        )
    console.print(augment_table(outcome, options))
    if outcome.resumed:
        console.print(f"resumed: {outcome.resumed} finished units taken from {outcome.out}")
    console.print(f"report: {outcome.files.markdown}   figure: {outcome.files.figure}")
    console.print(f"per seed: {outcome.files.results_csv}   rows: {outcome.files.generated_csv}")
