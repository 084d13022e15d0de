"""`cf-agent finetune`: LoRA on verified CFs, compared with its base."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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


@app.command("export-gguf")
def export_gguf(
    out: Annotated[Path, typer.Option(help="The llama.cpp LoRA file to write (.gguf).")],
    adapter: Annotated[
        Path | None,
        typer.Option(help="Adapter folder from `cf-agent finetune` [default: the shipped one]."),
    ] = None,
    base_gguf: Annotated[
        Path | None,
        typer.Option(help="The base model's GGUF [default: the embedded SmolLM2 GGUF]."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
) -> None:
    """Write a LoRA adapter as a llama.cpp LoRA GGUF, to serve it with its base GGUF."""
    from cf_agent.models.adapter_files import EMBEDDED_ADAPTER_DIR
    from cf_agent.models.adapter_gguf import export_adapter_gguf
    from cf_agent.models.llm.embedded import embedded_gguf_path

    base = base_gguf or embedded_gguf_path()
    count = export_adapter_gguf(adapter or EMBEDDED_ADAPTER_DIR, base, out, overwrite=overwrite)
    console.print(f"wrote {out}: LoRA for {count} weights of {base.name}")
    console.print(
        f"serve: python -m llama_cpp.server --model {base} --lora_path {out}  "
        "(then --model openai:<alias> with CF_AGENT_OPENAI_BASE_URL)"
    )
