"""`cf-agent augment`: the label-scarcity study."""

from __future__ import annotations

from cf_agent.augment.options import AugmentOptions
from cf_agent.cli.app import app, console, err_console
from cf_agent.cli.display import stage_bars
from cf_agent.cli.options import command_options
from cf_agent.cli.tables import augment_table


@app.command()
@command_options(AugmentOptions)
def augment(options: AugmentOptions) -> None:
    """Label scarcity: does adding verified CFs recover the minority F1 (vs SMOTE, oversampling)?"""
    from cf_agent.augment import run_study

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
