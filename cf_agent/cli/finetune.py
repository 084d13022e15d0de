"""`cf-agent finetune`: LoRA on verified CFs, compared with its base."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cf_agent.cli.app import app, console, err_console
from cf_agent.cli.display import stage_bars
from cf_agent.cli.tables import adapter_table
from cf_agent.locks import exclusive


@app.command()
def finetune(
    data: Annotated[Path, typer.Option(help="CSV or Parquet file.")],
    spec: Annotated[Path, typer.Option(help="Feature spec (.toml).")],
    model_dir: Annotated[Path, typer.Option("--classifier", help="Bundle from `cf-agent train`.")],
    out: Annotated[Path, typer.Option(help="Adapter directory to write.")],
    base: Annotated[str, typer.Option(help="embedded | hf:<id or path>")] = "embedded",
    sources: Annotated[
        str, typer.Option(help="Comma-separated: baselines, run:<results.jsonl>, audit:<db>.")
    ] = "search",
    people: Annotated[int, typer.Option(help="Learn from the first N people.", min=1)] = 800,
    val_share: Annotated[float, typer.Option(help="Share of people held out.")] = 0.05,
    revise_share: Annotated[
        float, typer.Option(help="Share of people with an on-policy revise example.")
    ] = 0.25,
    teacher_margin: Annotated[
        float, typer.Option(help="search teacher: lead of the desired class past the boundary.")
    ] = 0.1,
    teacher_grid: Annotated[
        str, typer.Option(help="search teacher: fine (tenths) or half (half/whole steps).")
    ] = "half",
    eval_people: Annotated[
        int, typer.Option(help="Held-out people whose first-proposal validity is tracked.")
    ] = 40,
    time_limit: Annotated[float, typer.Option(help="Seconds per person per baseline.")] = 10.0,
    rank: Annotated[int, typer.Option(help="LoRA rank.")] = 16,
    alpha: Annotated[int, typer.Option(help="LoRA alpha.")] = 32,
    top_layers: Annotated[
        int | None, typer.Option(help="LoRA on the last N layers only (faster on CPU).")
    ] = None,
    epochs: Annotated[float, typer.Option(help="Passes over the training examples.")] = 2.0,
    learning_rate: Annotated[float, typer.Option(help="Peak AdamW learning rate (cosine).")] = 5e-4,
    batch_size: Annotated[int, typer.Option(help="Examples per step.")] = 8,
    max_steps: Annotated[int | None, typer.Option(help="Stop after N steps.")] = None,
    eval_every: Annotated[int, typer.Option(help="Steps between validity measurements.")] = 25,
    patience: Annotated[
        int, typer.Option(help="Stop after N measurements without improvement.")
    ] = 3,
    quantization: Annotated[str, typer.Option(help="auto | none | 4bit (CUDA QLoRA).")] = "auto",
    compare_n: Annotated[int, typer.Option(help="Held-out people for before/after; 0 skips.")] = 20,
    compare_rounds: Annotated[int, typer.Option(help="LLM rounds in the before/after runs.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of split, baselines and training.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing adapter dir.")] = False,
) -> None:
    """Fine-tune a local LLM (LoRA) on verified CFs; compare it with its base on held-out people."""
    import shlex

    from cf_agent.finetune.service import FinetuneOptions, finetune

    options = FinetuneOptions.model_validate(
        {
            "data": data,
            "spec": spec,
            "model_dir": model_dir,
            "out": out,
            "base": base,
            "sources": sources,
            "people": people,
            "val_share": val_share,
            "revise_share": revise_share,
            "teacher_margin": teacher_margin,
            "teacher_grid": teacher_grid,
            "eval_people": eval_people,
            "time_limit_s": time_limit,
            "lora": {
                "rank": rank,
                "alpha": alpha,
                "top_layers": top_layers,
                "epochs": epochs,
                "learning_rate": learning_rate,
                "batch_size": batch_size,
                "max_steps": max_steps,
                "eval_every": eval_every,
                "patience": patience,
                "quantization": quantization,
                "seed": seed,
            },
            "compare_n": compare_n,
            "compare_rounds": compare_rounds,
            "seed": seed,
            "overwrite": overwrite,
            "command": shlex.join(["cf-agent", *sys.argv[1:]]),
        }
    )
    with stage_bars(err_console, transient=False) as advance:

        def progress(stage: str, done: int, total: int, info: str) -> None:
            advance(stage, done, total, f"{stage} {info}")

        with exclusive([options.out], "cf-agent finetune"):
            outcome = finetune(options, progress=progress)
    console.print(adapter_table(outcome))
    card = outcome.card
    if card.metrics is not None:
        console.print(card.metrics.markdown())
    console.print(f"card: {outcome.out / 'card.json'}   before/after: {outcome.out / 'compare.md'}")
