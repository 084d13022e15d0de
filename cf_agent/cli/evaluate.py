"""`cf-agent eval`: the agent beside DiCE, CFNOW and NICE on the same people."""

from __future__ import annotations

from cf_agent.cli.app import app, console, err_console
from cf_agent.cli.display import stage_bars
from cf_agent.cli.options import command_options
from cf_agent.cli.tables import eval_table
from cf_agent.eval.options import EvalOptions


@app.command("eval")
@command_options(EvalOptions)
def evaluate_methods(options: EvalOptions) -> None:
    """Compare the agent with DiCE, CFNOW and NICE on the same people; write the report."""
    from cf_agent.eval import evaluate

    with stage_bars(err_console) as advance:
        outcome = evaluate(
            options, progress=lambda method, done, total: advance(method, done, total, "")
        )
    console.print(eval_table(outcome, options.k))
    if outcome.resumed:
        console.print(f"resumed: {outcome.resumed} judged people taken from {outcome.out}")
    for reason in outcome.failed.values():
        err_console.print(f"{reason} (its people count as no CF; rerun to retry it)", markup=False)
    console.print(f"report: {outcome.files.markdown} and {outcome.files.html}")
    console.print(f"rows: {outcome.files.rows_csv}   estimates: {outcome.files.metrics_csv}")
