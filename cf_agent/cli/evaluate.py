"""`cf-agent eval`: the agent beside DiCE, CFNOW and NICE on the same people."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cf_agent.cli.app import app, console, err_console
from cf_agent.cli.display import stage_bars
from cf_agent.cli.tables import eval_table


@app.command("eval")
def evaluate_methods(
    data: Annotated[Path, typer.Option(help="CSV or Parquet file.")],
    spec: Annotated[Path, typer.Option(help="Feature spec (.toml).")],
    model_dir: Annotated[Path, typer.Option("--classifier", help="Bundle from `cf-agent train`.")],
    out: Annotated[Path, typer.Option(help="Directory for the report, CSVs and figures.")],
    methods: Annotated[
        str,
        typer.Option(
            help="Comma-separated: LLM model strings (embedded, hf:..., openai:...: the LLM "
            "alone; append +refine for the LLM followed by the search) and baselines (search, "
            "dice-random, dice-genetic, dice-kdtree, cfnow-greedy, cfnow-random, nice)."
        ),
    ] = "embedded,embedded+refine,search,dice-random,cfnow-greedy,nice",
    n: Annotated[int | None, typer.Option(help="At most this many people (same for all).")] = 100,
    k: Annotated[int, typer.Option(help="CFs asked per person.")] = 1,
    margin: Annotated[float, typer.Option(help="Required probability margin.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the randomised baselines.")] = 0,
    time_limit: Annotated[
        float, typer.Option(help="Seconds a baseline may search per person.")
    ] = 30.0,
    cfnow_seconds: Annotated[float, typer.Option(help="CFNOW's fine-tuning budget.")] = 3.0,
    nice_optimization: Annotated[str, typer.Option(help="NICE: sparsity or proximity.")] = (
        "sparsity"
    ),
    prompt: Annotated[
        str | None,
        typer.Option(help="LLMs: compact | zero_shot | few_shot | .toml (default: per model)."),
    ] = None,
    revise_prompt: Annotated[
        str | None, typer.Option(help="LLMs: template for revisions (default: the prompt's own).")
    ] = None,
    max_rounds: Annotated[int, typer.Option(help="LLMs: rounds before giving up.")] = 4,
    hints: Annotated[bool, typer.Option(help="LLMs: sensitivity hints.")] = True,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL.")] = None,
    api_key: Annotated[
        str | None,
        typer.Option(help="API key (better: OPENAI_API_KEY).", envvar="CF_AGENT_API_KEY"),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Local generation batch size.")] = 8,
    concurrency: Annotated[int, typer.Option(help="Parallel requests to openai: endpoints.")] = 4,
    overwrite: Annotated[bool, typer.Option(help="Discard an earlier eval in --out.")] = False,
) -> None:
    """Compare the agent with DiCE, CFNOW and NICE on the same people; write the report."""
    import shlex

    from cf_agent.eval import EvalOptions, evaluate

    command = shlex.join(["cf-agent", *sys.argv[1:]])
    options = EvalOptions.model_validate(
        {
            "data": data,
            "spec": spec,
            "model_dir": model_dir,
            "out": out,
            "methods": tuple(methods.split(",")),
            "n": n,
            "k": k,
            "margin": margin,
            "seed": seed,
            "time_limit_s": time_limit,
            "cfnow_seconds": cfnow_seconds,
            "nice_optimization": nice_optimization,
            "prompt": prompt,
            "revise_prompt": revise_prompt,
            "max_rounds": max_rounds,
            "hints": hints,
            "base_url": base_url,
            "api_key": api_key,
            "batch_size": batch_size,
            "concurrency": concurrency,
            "overwrite": overwrite,
            "command": command.replace(api_key, "***") if api_key else command,
        }
    )
    with stage_bars(err_console) as advance:
        outcome = evaluate(
            options, progress=lambda method, done, total: advance(method, done, total, "")
        )
    console.print(eval_table(outcome, k))
    if outcome.resumed:
        console.print(f"resumed: {outcome.resumed} judged people taken from {outcome.out}")
    for reason in outcome.failed.values():
        err_console.print(f"{reason} (its people count as no CF; rerun to retry it)", markup=False)
    console.print(f"report: {outcome.files.markdown} and {outcome.files.html}")
    console.print(f"rows: {outcome.files.rows_csv}   estimates: {outcome.files.metrics_csv}")
