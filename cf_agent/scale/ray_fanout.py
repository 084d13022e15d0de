"""`cf-agent run --ray N`: one batch split into shards that run on Ray workers, merged once.

Each shard is an ordinary `run_agent` call on a data file of its own: the cohort with the
shard's people first (in plan order) and every other row after them, with `n` = the shard's
size, so the runner plans exactly the shard's people while its verifiers learn from the same
training rows as a single-process run. Every shard keeps the runner's crash safety (journal,
checkpoints, resume). All shards append to one audit log: appends take SQLite's write lock
before reading the chain's head, so concurrent processes never fork the chain (tested in
tests/audit). The final output is written once, atomically, from the shard outputs, by query
id in plan order. A rerun with the same options and worker count skips finished shards and
resumes unfinished ones; Ray re-runs a shard whose worker died, and the re-run resumes from
that shard's journal, so no person is processed into the output twice.

The shard data files stay in the work dir after the merge: each shard's audit run names its
file, and `cf-agent review` re-checks CFs against the file a run used.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from cf_agent.agent.options import RESULT_SHAPING
from cf_agent.agent.outputs import check_output_path, write_results
from cf_agent.agent.queries import Query, require_queries
from cf_agent.agent.runner import RunOptions, run_agent
from cf_agent.agent.summary import RunSummary, summarize
from cf_agent.audit.store import AuditStore
from cf_agent.data.cohort import Cohort, load_cohort
from cf_agent.data.spec import FeatureSpec, load_spec
from cf_agent.errors import CfAgentError, OutputError
from cf_agent.fileio import atomic_path, ensure_writable, write_text_atomic
from cf_agent.fingerprint import options_fingerprint
from cf_agent.locks import exclusive
from cf_agent.models.classifier import load_bundle
from cf_agent.models.registry import default_prompt
from cf_agent.scale.proposers import ProposerFactory

RAY_INSTALL = ".venv/bin/pip install 'cf-agent[ray]'  (or: pip install ray)"
PLAN_FILE = "plan.json"
# Shards pass only options and file paths through Ray, so a small object store is plenty.
LOCAL_OBJECT_STORE_BYTES = 128 * 1024**2
ProgressFn = Callable[[int, int], None]


class FanoutOutcome(BaseModel):
    """What a Ray fan-out produced: the merged output and where each shard's audit trail is."""

    out: Path
    audit_db: Path
    work_dir: Path = Field(description="Shard data files (kept: the shards' audit runs name them).")
    summary: RunSummary
    shard_run_ids: list[str] = Field(description="Audit run id of each shard, in shard order.")
    resumed_shards: int = Field(description="Shards finished by an earlier, interrupted call.")


class ShardPlan(BaseModel):
    """Which people each shard runs, fixed when the fan-out starts so a rerun can resume it."""

    fingerprint: str
    shards: list[list[str]] = Field(description="Query ids per shard, each in plan order.")


def work_dir_for(out: Path) -> Path:
    return out.with_name(out.name + ".ray")


def split_round_robin(queries: Sequence[Query], shards: int) -> list[list[str]]:
    """Query ids dealt out in turn, so slow stretches of the file spread over every shard."""
    ids = [q.query_id for q in queries]
    return [part for part in (ids[i::shards] for i in range(shards)) if part]


def _import_ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError:
        raise CfAgentError(
            "--ray needs the Python package 'ray', which is not installed", RAY_INSTALL
        ) from None
    return ray


def _read_raw(path: Path) -> pd.DataFrame:
    """The data file's cells as stored (CSV cells as text), so a shard file changes no value."""
    if path.suffix.lower() == ".csv":
        text = path.read_bytes().decode("utf-8-sig")
        return pd.read_csv(io.StringIO(text), dtype=object, keep_default_na=False)
    return pd.read_parquet(path)


def _write_shard_data(
    raw: pd.DataFrame, positions: dict[str, int], shard: list[str], path: Path
) -> None:
    """The whole cohort, this shard's people first in plan order, then the rest in file order."""
    first = [positions[query_id] for query_id in shard]
    chosen = set(first)
    order = first + [i for i in range(len(raw)) if i not in chosen]
    frame = raw.iloc[order]
    with atomic_path(path) as tmp:
        if path.suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)


def _shard_paths(work_dir: Path, index: int, data_suffix: str) -> tuple[Path, Path]:
    stem = work_dir / f"shard-{index:03d}"
    return stem.with_suffix(data_suffix.lower()), stem.with_suffix(".jsonl")


def _shard_options(
    options: RunOptions, data: Path, out: Path, size: int, audit_db: Path
) -> RunOptions:
    return options.model_copy(
        update={"data": data, "out": out, "n": size, "audit_db": audit_db, "overwrite": False}
    )


def _read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _finished_records(out: Path, shard: list[str]) -> list[dict[str, Any]] | None:
    """A shard's records if its output is complete, None if it has not finished yet."""
    if not out.exists():
        return None
    records = _read_records(out)
    got = [str(r["query_id"]) for r in records]
    if got != shard:
        raise OutputError(
            f"shard output {out} holds other people than its plan ({len(got)} rows for "
            f"{len(shard)} planned)",
            f"delete {out} and rerun the same command to redo that shard",
        )
    return records


def _journal_lines(out: Path) -> int:
    journal = out.with_name(out.name + ".journal.jsonl")
    return journal.read_bytes().count(b"\n") if journal.exists() else 0


def run_shard(options: RunOptions, proposer_factory: ProposerFactory | None) -> str:
    """One shard on a Ray worker: an ordinary, resumable run_agent call; returns its run id."""
    proposer = proposer_factory(options) if proposer_factory is not None else None
    return run_agent(options, proposer=proposer, lock_audit=False).run_id  # the driver holds it


def _shard_error(exc: Exception, index: int) -> CfAgentError:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, CfAgentError):
        return cause
    return CfAgentError(
        f"shard {index} failed on its Ray worker: {type(cause or exc).__name__}: {cause or exc}",
        "rerun the same command: finished shards are kept and the failed one resumes",
    )


def _prepare_plan(
    options: RunOptions, spec: FeatureSpec, cohort: Cohort, workers: int, work_dir: Path
) -> tuple[ShardPlan, bool]:
    """The shard plan of an unfinished fan-out with these options, or a new one (files written)."""
    bundle = load_bundle(options.model_dir, spec)
    queries = require_queries(cohort, bundle, options.n, options.data, "run")
    shards = min(workers, len(queries))
    classifier = json.dumps(bundle.metadata.file_sha256, sort_keys=True)
    keyed = options.model_dump(mode="json", include=set(RESULT_SHAPING))
    prompts = (options.prompt or default_prompt(options.model), options.revise_prompt)
    fingerprint = options_fingerprint(keyed, cohort, prompts, classifier=classifier, shards=shards)
    plan_path = work_dir / PLAN_FILE
    if plan_path.exists():
        plan = ShardPlan.model_validate_json(plan_path.read_text(encoding="utf-8"))
        if plan.fingerprint != fingerprint:
            raise OutputError(
                f"an unfinished Ray run with other options or worker count writes to {options.out}",
                f"rerun it with the same options and --ray to resume it, or delete {work_dir} "
                "to start afresh",
            )
        return plan, True
    if options.out.exists() and not options.overwrite:
        raise OutputError(f"{options.out} already exists", "pass --overwrite or choose --out")
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    plan = ShardPlan(fingerprint=fingerprint, shards=split_round_robin(queries, shards))
    raw = _read_raw(options.data)
    positions = {query_id: i for i, query_id in enumerate(cohort.ids.astype(str))}
    for index, shard in enumerate(plan.shards):
        data, _ = _shard_paths(work_dir, index, options.data.suffix)
        _write_shard_data(raw, positions, shard, data)
    # Written last: a plan on disk means every shard's data file is there.
    write_text_atomic(plan_path, plan.model_dump_json(indent=1))
    return plan, False


def _shard_run_ids(audit_db: Path, outs: Sequence[Path]) -> list[str]:
    with AuditStore(audit_db) as audit:
        runs = audit.runs()
    latest = {}
    for run in runs:
        if run.status == "completed":
            latest[run.config.get("out")] = run.run_id
    return [latest.get(str(out), "") for out in outs]


def run_on_ray(
    options: RunOptions,
    workers: int,
    address: str | None = None,
    proposer_factory: ProposerFactory | None = None,
    progress: ProgressFn | None = None,
    max_retries: int = 2,
) -> FanoutOutcome:
    """Run `options`' batch as `workers` shards on Ray; merge into options.out exactly once.

    Uses the running Ray session if there is one, else starts a local one with `workers` CPUs
    (or joins the cluster at `address`) and stops it at the end. `proposer_factory` builds each
    shard's proposer on its worker; without it the shards load options.model themselves.
    `max_retries`: times Ray re-runs a shard whose worker process died.
    """
    if workers < 1:
        raise CfAgentError(f"--ray needs at least 1 worker, got {workers}", "pass --ray 2 or more")
    check_output_path(options.out)
    audit_db = options.audit_db or options.out.parent / "audit.db"
    with exclusive([options.out, audit_db], "cf-agent run --ray"):  # shards share the audit log
        return _run_on_ray(options, workers, address, proposer_factory, progress, max_retries)


def _run_on_ray(
    options: RunOptions,
    workers: int,
    address: str | None,
    proposer_factory: ProposerFactory | None,
    progress: ProgressFn | None,
    max_retries: int,
) -> FanoutOutcome:
    ray = _import_ray()
    ensure_writable(options.out)
    spec = load_spec(options.spec)
    cohort = load_cohort(options.data, spec)
    work_dir = work_dir_for(options.out)
    plan, resuming = _prepare_plan(options, spec, cohort, workers, work_dir)
    audit_db = options.audit_db or options.out.parent / "audit.db"
    paths = [_shard_paths(work_dir, i, options.data.suffix) for i in range(len(plan.shards))]
    outs = [out for _, out in paths]
    done = {i for i, shard in enumerate(plan.shards) if _finished_records(outs[i], shard)}
    resumed_shards = len(done) if resuming else 0

    started_ray = not ray.is_initialized()
    if started_ray:
        if address is None:
            ray.init(
                num_cpus=workers,
                include_dashboard=False,
                log_to_driver=False,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            )
        else:
            ray.init(address=address, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1, max_retries=max_retries)(run_shard)
        running = {}
        for i, (data, out) in enumerate(paths):
            if i not in done:
                shard_options = _shard_options(options, data, out, len(plan.shards[i]), audit_db)
                running[task.remote(shard_options, proposer_factory)] = i
        total = sum(len(s) for s in plan.shards)
        failures: list[CfAgentError] = []
        while running:
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for ref in ready:
                index = running.pop(ref)
                try:
                    ray.get(ref)
                except ray.exceptions.RayError as exc:
                    # The other shards run on to their end, so a rerun has less left to do.
                    failures.append(_shard_error(exc, index))
            if progress is not None:
                pending = set(running.values())
                progress(
                    sum(
                        _journal_lines(outs[i]) if i in pending else len(shard)
                        for i, shard in enumerate(plan.shards)
                    ),
                    total,
                )
    finally:
        if started_ray:
            ray.shutdown()
    if failures:
        raise failures[0]

    by_id: dict[str, dict[str, Any]] = {}
    for shard, out in zip(plan.shards, outs, strict=True):
        records = _finished_records(out, shard)
        assert records is not None  # every shard finished or its error was raised above
        by_id.update((str(r["query_id"]), r) for r in records)
    ordered = [by_id[query_id] for query_id in _plan_order(plan)]
    write_results(spec, ordered, options.out)
    run_ids = _shard_run_ids(audit_db, outs)
    for out in outs:
        out.unlink()
    (work_dir / PLAN_FILE).unlink()
    return FanoutOutcome(
        out=options.out,
        audit_db=audit_db,
        work_dir=work_dir,
        summary=summarize(ordered),
        shard_run_ids=run_ids,
        resumed_shards=resumed_shards,
    )


def _plan_order(plan: ShardPlan) -> list[str]:
    """The original plan order back from the round-robin shards."""
    longest = max(len(s) for s in plan.shards)
    return [s[j] for j in range(longest) for s in plan.shards if j < len(s)]
