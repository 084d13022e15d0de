"""`cf-agent run`: the agent over a cohort, in this process or fanned out over Ray."""

from __future__ import annotations

from typing import Any

from cf_agent.agent.options import FanoutSettings, RunOptions, RunSettings
from cf_agent.cli.app import app, console, err_console
from cf_agent.cli.display import figures_table, progress_display, run_figure_names
from cf_agent.cli.options import command_options


@app.command()
@command_options(RunOptions, FanoutSettings)
def run(options: RunOptions, fanout: FanoutSettings) -> None:
    """Propose, verify and revise CFs for everyone predicted outside the desired class."""
    from cf_agent.api import CFAgent

    names = run_figure_names()
    if fanout.ray_workers is not None:
        from cf_agent.scale.ray_fanout import run_on_ray

        with progress_display(err_console, f"people on {fanout.ray_workers} Ray workers") as bar:
            fanned = run_on_ray(
                options, fanout.ray_workers, address=fanout.ray_address, progress=bar.update
            )
        shards = f"{len(fanned.shard_run_ids)} Ray shards"
        console.print(figures_table(f"run over {shards}", fanned.summary.model_dump(), names))
        console.print(f"results: {fanned.out}   audit log: {fanned.audit_db}")
        console.print(f"shard runs: {', '.join(fanned.shard_run_ids)}; data: {fanned.work_dir}")
        return
    settings = {name: getattr(options, name) for name in RunSettings.model_fields}
    agent = CFAgent(options.spec, options.model_dir, **settings).fit(options.data)
    with progress_display(err_console, "people") as bar:

        def planned(people: int) -> None:
            bar.console.print(f"explaining {people} people with {options.model}", highlight=False)
            bar.update(0, people)

        def advance(done: int, total: int, record: dict[str, Any]) -> None:
            bar.update(done, total)
            for cf in record["counterfactuals"][:1]:
                changes = "; ".join(c["text"] for c in cf["changes"].values())
                bar.console.print(
                    f"[green]{record['query_id']}[/] {changes}  [dim]({cf['source']})"
                )
            if not record["counterfactuals"]:
                bar.console.print(
                    f"[yellow]{record['query_id']}[/] no verified CF ({record['status']})"
                )

        result = agent.explain(
            out=options.out,
            audit=options.audit_db,
            overwrite=options.overwrite,
            records=False,
            progress=advance,
            planned=planned,
        )
    title = f"run {result.provenance.run_id} (figures: docs/metrics.md)"
    console.print(figures_table(title, result.summary.model_dump(), names))
    console.print(f"results: {result.out}   audit log: {result.provenance.audit_db}")
