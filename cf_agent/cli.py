"""The `cf-agent` command line: thin Typer commands that call one service function each."""

from __future__ import annotations

import math
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cf_agent.agent.options import FanoutSettings, RunOptions, RunSettings
from cf_agent.cli_display import figures_table, progress_display, quiet_libraries, run_figure_names
from cf_agent.cli_options import command_options
from cf_agent.errors import CfAgentError

app = typer.Typer(
    help="Verified counterfactual explanations for health classifiers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    help="Data sets: the bundled demo cohort and the AI-READI adapter.", no_args_is_help=True
)
audit_app = typer.Typer(help="Read, export and verify the audit log.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(audit_app, name="audit")
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _global_options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show library warnings and progress bars.")
    ] = False,
) -> None:
    quiet_libraries(verbose)


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
    from cf_agent.data.aireadi import AireadiOptions, aireadi_progress, write_aireadi

    options = AireadiOptions(
        min_wear_days=min_wear_days, min_nights=min_nights, min_cgm_days=min_cgm_days
    )
    with aireadi_progress(err_console) as progress:
        files = write_aireadi(root, out, options, progress=progress)
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

    from rich.progress import Progress, TaskID

    from cf_agent.eval import EvalOptions, evaluate
    from cf_agent.eval.report import format_mean

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
    with Progress(console=err_console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def advance(method: str, done: int, total: int) -> None:
            if method not in tasks:
                tasks[method] = bar.add_task(method, total=total)
            bar.update(tasks[method], completed=done, total=total)

        outcome = evaluate(options, progress=advance)
    columns = ("success", "validity", "plausible", "actionable", "changed", "L1/MAD", "yNN")
    table = Table(
        "method",
        *columns,
        "s/CF",
        "LLM calls",
        title=f"means over {outcome.summaries[0].queries} people, k = {k} (95% CIs: report)",
    )
    table.columns[0].no_wrap = True
    for s in outcome.summaries:
        seconds = s.median_seconds_per_cf
        estimates = (s.success, s.validity, s.plausibility, s.actionable, s.sparsity, s.l1_mad)
        table.add_row(
            s.method,
            *(format_mean(e) for e in (*estimates, s.ynn)),
            "n/a" if seconds is None else f"{seconds:.3g}",
            format_mean(s.llm_calls),
        )
    console.print(table)
    if outcome.resumed:
        console.print(f"resumed: {outcome.resumed} judged people taken from {outcome.out}")
    for reason in outcome.failed.values():
        err_console.print(f"{reason} (its people count as no CF; rerun to retry it)", markup=False)
    console.print(f"report: {outcome.files.markdown} and {outcome.files.html}")
    console.print(f"rows: {outcome.files.rows_csv}   estimates: {outcome.files.metrics_csv}")


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
    from rich.progress import Progress

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
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("augmentation study", total=None)

        def advance(label: str, done: int, total: int) -> None:
            bar.update(task, description=label, completed=done, total=total)

        outcome = run_study(options, progress=advance)
    table = Table("classifier", "rows", "arm", "mean F1", "mean F1 recovery", "beats SMOTE")
    for row in outcome.average:
        recovery = row["f1_recovery"]
        table.add_row(
            row["kind"],
            str(row["rows"]),
            row["arm"],
            f"{row['f1_minority']:.3f}",
            "n/a" if math.isnan(recovery) else f"{recovery:.0%}",
            f"{row['beats_smote']}/{row['compared']}" if row["compared"] else "",
        )
    table.title = f"averaged over {len(options.keep)} scenarios, {options.seeds} seeds"
    console.print(table)
    if outcome.resumed:
        console.print(f"resumed: {outcome.resumed} finished units taken from {outcome.out}")
    console.print(f"report: {outcome.files.markdown}   figure: {outcome.files.figure}")
    console.print(f"per seed: {outcome.files.results_csv}   rows: {outcome.files.generated_csv}")


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
    checkpoint_every: Annotated[
        int, typer.Option(help="Training steps between checkpoints (a kill resumes from one).")
    ] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing adapter dir.")] = False,
) -> None:
    """Fine-tune a local LLM (LoRA) on verified CFs; compare it with its base on held-out people."""
    import shlex

    from rich.progress import Progress, TaskID

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
            "checkpoint_every": checkpoint_every,
            "overwrite": overwrite,
            "command": shlex.join(["cf-agent", *sys.argv[1:]]),
        }
    )
    with Progress(console=err_console) as bar:
        tasks: dict[str, TaskID] = {}

        def advance(stage: str, done: int, total: int, info: str) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total, description=f"{stage} {info}")

        outcome = finetune(options, progress=advance)  # holds --out's lock (locks.py)
    card = outcome.card
    console.print(
        figures_table(
            f"adapter {outcome.out}",
            {
                "train examples": card.examples["train"],
                "validation examples": card.examples["val"],
                "train loss (last 10 steps)": card.training.train_loss_last,
                "validation loss before": card.training.val_loss_before or math.nan,
                "validation loss after": card.training.val_loss_after or math.nan,
                "seconds per step": card.training.seconds_per_step,
            },
            {},
        )
    )
    if card.metrics is not None:
        console.print(card.metrics.markdown())
    console.print(f"card: {outcome.out / 'card.json'}   before/after: {outcome.out / 'compare.md'}")


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


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that cleanup (`finally`, temp dirs) still runs."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def main() -> None:
    """Console entry point: CfAgentError -> message, fix and its exit code; no traceback."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        code = app(standalone_mode=False)  # typer.Exit(n) comes back as n here
    except Terminated:
        err_console.print("terminated (SIGTERM): finished work is kept; rerun to resume a batch")
        sys.exit(128 + signal.SIGTERM)
    except CfAgentError as exc:
        err_console.print(f"[red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.fix:
            err_console.print(f"[cyan]fix:[/] {escape(exc.fix)}", highlight=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: bad option values, unknown options
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"[red]error:[/] {exc.format_message()}", highlight=False)
        sys.exit(exc.exit_code)
    if isinstance(code, int) and code:
        sys.exit(code)
