"""`cf-agent finetune`: LoRA on verified CFs, compared with its base."""

from __future__ import annotations

from cf_agent.cli.app import app, console, err_console
from cf_agent.cli.display import stage_bars
from cf_agent.cli.options import command_options
from cf_agent.cli.tables import adapter_table
from cf_agent.finetune.options import FinetuneOptions


@app.command()
@command_options(FinetuneOptions)
def finetune(options: FinetuneOptions) -> None:
    """Fine-tune a local LLM (LoRA) on verified CFs; compare it with its base on held-out people."""
    from cf_agent.finetune.service import finetune

    with stage_bars(err_console, transient=False) as advance:

        def progress(stage: str, done: int, total: int, info: str) -> None:
            advance(stage, done, total, f"{stage} {info}")

        outcome = finetune(options, progress=progress)  # holds --out's lock (locks.py)
    if outcome.already_done:
        console.print(f"already done: {outcome.out} holds the adapter of this same command")
    console.print(adapter_table(outcome))
    card = outcome.card
    if card.metrics is not None:
        console.print(card.metrics.markdown())
    console.print(f"card: {outcome.out / 'card.json'}   before/after: {outcome.out / 'compare.md'}")
