"""`cf-agent run` as a service: plan the queries, run the graph per query, resume after a kill.

Queries run in parallel worker threads (as many as the backend batches or serves at once);
their proposals meet in one batched call (batching.py). Crash safety: finished queries go to a
fsynced JSONL journal beside the output; the graph's per-query progress goes to LangGraph's
SQLite checkpointer. A rerun with the same options skips journalled queries and resumes those
in flight from their last checkpoints; the people still to come draw their few-shot exemplars
from the journalled ones, as in an uninterrupted run. The final output streams from the
journal, atomically, at the end, and only then are the journal and checkpoints removed.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel, Field

from cf_agent.agent.batching import BatchingProposer
from cf_agent.agent.context import AgentContext
from cf_agent.agent.exemplars import ExemplarPool
from cf_agent.agent.graph import build_graph
from cf_agent.agent.journal import ResultJournal
from cf_agent.agent.options import RESULT_SHAPING, RunJob, RunOptions
from cf_agent.agent.outputs import check_output_path, write_results
from cf_agent.agent.queries import Query, plan_queries
from cf_agent.agent.records import result_record
from cf_agent.agent.state import CFState, initial_state
from cf_agent.agent.summary import RunSummary, summarize
from cf_agent.audit.store import AuditStore, EventType
from cf_agent.data.cohort import Cohort, load_cohort
from cf_agent.data.spec import FeatureSpec, load_spec
from cf_agent.errors import OutputError
from cf_agent.fileio import ensure_writable, read_state_file, write_text_atomic
from cf_agent.fingerprint import options_fingerprint
from cf_agent.locks import exclusive
from cf_agent.models.classifier import ClassifierBundle, load_bundle, training_rows
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.models.registry import default_prompt, load_backend
from cf_agent.prompts.render import load_prompts
from cf_agent.proposers import Proposer
from cf_agent.tools.actionability import ActionabilityCheck
from cf_agent.tools.classifier_check import ClassifierCheck
from cf_agent.tools.plausibility import PlausibilityCheck
from cf_agent.tools.verifiers import Verifiers

ProgressFn = Callable[[int, int, dict[str, Any]], None]


@dataclass(frozen=True)
class RunInputs:
    """What a run reads, loaded: from files (`load_inputs`) or from a notebook's objects."""

    cohort: Cohort
    bundle: ClassifierBundle
    train: pd.DataFrame = field(repr=False)  # the rows the plausibility check learns from


def load_inputs(options: RunOptions) -> RunInputs:
    """Spec, data and bundle from their files; training rows from the bundle's saved split."""
    spec = load_spec(options.spec)
    cohort = load_cohort(options.data, spec)
    bundle = load_bundle(options.model_dir, spec)
    return RunInputs(cohort, bundle, training_rows(cohort, options.model_dir))


class RunOutcome(BaseModel):
    run_id: str
    out: Path
    audit_db: Path
    summary: RunSummary
    resumed: int = Field(description="Queries taken from an earlier, interrupted run.")
    records: list[dict[str, Any]] | None = Field(
        default=None, description="Every query's result record, in plan order, if kept."
    )


def build_verifiers(
    spec: FeatureSpec, bundle: ClassifierBundle, cohort: Cohort, model_dir: Path, margin: float
) -> Verifiers:
    """The verifiers of a saved bundle: plausibility learns from its training rows."""
    return verifiers_for(spec, bundle, training_rows(cohort, model_dir), margin)


def verifiers_for(
    spec: FeatureSpec, bundle: ClassifierBundle, train: pd.DataFrame, margin: float
) -> Verifiers:
    """Classifier, actionability and plausibility checks; plausibility learns from `train`."""
    plausibility = PlausibilityCheck(spec).fit(train[spec.feature_names])
    return Verifiers(
        classifier_check=ClassifierCheck(bundle, spec, margin=margin),
        actionability=ActionabilityCheck(spec),
        plausibility=plausibility,
    )


def _state_paths(out: Path) -> tuple[Path, Path, Path]:
    return (
        out.with_name(out.name + ".journal.jsonl"),
        out.with_name(out.name + ".checkpoints.sqlite"),
        out.with_name(out.name + ".run.json"),
    )


def _unfinished_run(audit: AuditStore, fingerprint: str, out: Path) -> str | None:
    """The audit run that an interrupted `run` with these options and output started, if any."""
    for run in reversed(audit.runs()):
        same = run.config.get("fingerprint") == fingerprint and run.config.get("out") == str(out)
        if same and run.status == "running":
            return run.run_id
    return None


def _exemplar_pool(
    spec: FeatureSpec, proposer: Proposer, journal: ResultJournal
) -> ExemplarPool | None:
    """An LLM's few-shot material: the people finished so far, an interrupted run's included,
    in the order they finished (as an uninterrupted run would hold them)."""
    if not proposer.is_llm:
        return None
    pool = ExemplarPool(spec)
    for query_id in journal.query_ids():
        record = journal.read(query_id)
        pool.add(record["query"], record["counterfactuals"])
    return pool


def _run_one(
    graph: Any,
    ctx: AgentContext,
    pool: ExemplarPool | None,
    query: Query,
    k: int,
    max_rounds: int,
) -> tuple[CFState, float]:
    """Run (or resume, or fetch) one query's graph; its accepted CF then joins the pool.

    The query draws its exemplars from the pool when it starts, into its checkpointed state.
    """
    config: RunnableConfig = {"configurable": {"thread_id": query.query_id}}
    started = time.perf_counter()
    snapshot = graph.get_state(config)
    if snapshot.next:
        state = graph.invoke(None, config, context=ctx)
    elif snapshot.values and snapshot.values.get("status") not in (None, "running"):
        state = snapshot.values
    else:
        state = graph.invoke(
            initial_state(
                query.query_id,
                query.row,
                query.current_class,
                ctx.spec.desired_class,
                k=k,
                max_rounds=max_rounds,
                exemplars=pool.nearest(query.row) if pool is not None else (),
            ),
            config,
            context=ctx,
        )
    seconds = time.perf_counter() - started
    if pool is not None:
        pool.add(state["query"], state["accepted"])
    return state, seconds


def _run_parallel(
    graph: Any,
    ctx: AgentContext,
    pool: ExemplarPool | None,
    batching: BatchingProposer,
    todo: list[Query],
    options: RunJob,
    workers: int,
) -> Iterator[tuple[Query, CFState, float]]:
    """Run the queries on `workers` threads; yield each as it finishes (journalled by the caller).

    Workers are daemon threads: on Ctrl-C or an error the caller stops consuming, no new query
    starts, and a rerun resumes every query in flight from its checkpoint.
    """
    pending: queue.SimpleQueue[Query] = queue.SimpleQueue()
    for query in todo:
        pending.put(query)
    finished: queue.SimpleQueue[tuple[Query, CFState, float] | BaseException] = queue.SimpleQueue()
    stop = threading.Event()

    def work() -> None:
        try:
            while not stop.is_set():
                query = pending.get_nowait()
                state, seconds = _run_one(graph, ctx, pool, query, options.k, options.max_rounds)
                finished.put((query, state, seconds))
        except queue.Empty:
            pass
        except BaseException as exc:
            finished.put(exc)
        finally:
            batching.retire_worker()

    started = min(workers, len(todo))
    batching.add_workers(started)
    for _ in range(started):
        threading.Thread(target=work, name="cf-agent-query", daemon=True).start()
    try:
        for _ in todo:
            item = finished.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def run_agent(
    options: RunJob,
    proposer: Proposer | None = None,
    progress: ProgressFn | None = None,
    inputs: RunInputs | None = None,
    keep_records: bool = False,
    planned: Callable[[int], None] | None = None,
    lock_audit: bool = True,
) -> RunOutcome:
    """Run the verifier loop over every query; resumable; returns the summary.

    `inputs` replaces the files RunOptions name (the Python API passes in-memory objects);
    `keep_records` returns every result record with the outcome. `planned(people)` is called
    once the people are chosen, before the model loads (a log then says at once what will run).
    The output and the audit log are held for the run: a second run on either is refused.
    `lock_audit=False` is for the shards of a Ray fan-out, whose driver holds the audit log.
    """
    check_output_path(options.out)
    audit_db = options.audit_db or options.out.parent / "audit.db"
    with exclusive([options.out, *([audit_db] if lock_audit else [])], "cf-agent run"):
        return _run_agent(options, proposer, progress, inputs, keep_records, planned)


def _run_agent(
    options: RunJob,
    proposer: Proposer | None,
    progress: ProgressFn | None,
    inputs: RunInputs | None,
    keep_records: bool,
    planned: Callable[[int], None] | None,
) -> RunOutcome:
    journal_path, checkpoint_path, meta_path = _state_paths(options.out)
    resuming = meta_path.exists()
    if not resuming and options.out.exists() and not options.overwrite:
        raise OutputError(f"{options.out} already exists", "pass --overwrite or choose --out")
    ensure_writable(options.out)
    if inputs is None:
        if not isinstance(options, RunOptions):
            raise TypeError("run_agent needs `inputs`, or RunOptions that name the files")
        inputs = load_inputs(options)
    cohort, bundle, spec = inputs.cohort, inputs.bundle, inputs.cohort.spec
    initial, revise = load_prompts(
        options.prompt or default_prompt(options.model), options.revise_prompt
    )
    queries = plan_queries(cohort, bundle, options.n)
    verifiers = verifiers_for(spec, bundle, inputs.train, options.margin)
    if planned is not None:
        planned(len(queries))
    if proposer is None:
        backend = load_backend(
            options.model,
            base_url=options.base_url,
            api_key=options.api_key.get_secret_value() if options.api_key else None,
            batch_size=options.batch_size,
            concurrency=options.concurrency,
        )
        proposer = LLMProposer(backend, spec, initial, revise)
    keyed = options.model_dump(mode="json", include=set(RESULT_SHAPING))
    fingerprint = options_fingerprint(keyed, cohort, (options.prompt, options.revise_prompt))
    if resuming:
        afresh = (
            f"delete {meta_path}, {journal_path.name} and {checkpoint_path.name} to start afresh"
        )
        meta = read_state_file(meta_path, afresh)
        if meta.get("fingerprint") != fingerprint:
            raise OutputError(
                f"an unfinished run with other options writes to {options.out}",
                f"rerun with the same options to resume it, or delete {meta_path.name}, "
                f"{journal_path.name} and {checkpoint_path.name} to start afresh",
            )
    else:
        journal_path.unlink(missing_ok=True)
        checkpoint_path.unlink(missing_ok=True)
        # Written before anything else, so a kill at any later point resumes this run.
        write_text_atomic(meta_path, json.dumps({"fingerprint": fingerprint}))

    audit_db = options.audit_db or options.out.parent / "audit.db"
    audit = AuditStore(audit_db)
    if options.api_key:
        audit.register_secret(options.api_key.get_secret_value())
    config_json = options.model_dump(mode="json", exclude={"api_key"})
    run_id = _unfinished_run(audit, fingerprint, options.out) if resuming else None
    if run_id is not None:
        audit.append(run_id, EventType.RUN_RESUMED, {"fingerprint": fingerprint})
    else:
        run_id = audit.start_run(
            command="run",
            model_string=options.model,
            prompt_name=initial.name,
            prompt_hash=initial.sha256,
            config={
                **config_json,
                "revise_prompt_hash": revise.sha256,
                "data_hash": cohort.data_hash,
                "spec_hash": spec.spec_hash(),
                "classifier": bundle.metadata.model_dump(mode="json"),
                "queries": len(queries),
                "fingerprint": fingerprint,
            },
        )

    workers = max(1, getattr(proposer, "parallel_queries", 1) // options.k)
    batching = BatchingProposer(proposer, max_batch=workers * options.k)
    ctx = AgentContext(
        spec=spec,
        proposer=batching,
        verifiers=verifiers,
        model=bundle,
        audit=audit,
        run_id=run_id,
        refine=options.refine,
        hints=options.hints,
    )
    journal = ResultJournal(journal_path, keep_records=keep_records)
    pool = _exemplar_pool(spec, batching, journal)
    resumed = sum(q.query_id in journal for q in queries)
    todo = [q for q in queries if q.query_id not in journal]
    conn = sqlite3.connect(checkpoint_path, check_same_thread=False)
    started = time.perf_counter()
    try:
        graph = build_graph(SqliteSaver(conn))
        finished = _run_parallel(graph, ctx, pool, batching, todo, options, workers)
        for done, (_query, state, seconds) in enumerate(finished, start=resumed + 1):
            record = result_record(spec, state, seconds)
            journal.append(record)
            if progress is not None:
                progress(done, len(queries), record)
        wall = time.perf_counter() - started
        write_results(spec, (journal.read(q.query_id) for q in queries), options.out)
        summary = summarize(
            (journal.read(q.query_id) for q in queries),
            wall_seconds=wall if todo else None,
        )
        records = [journal.read(q.query_id) for q in queries] if keep_records else None
        audit.finish_run(run_id, "completed")
    finally:
        conn.close()
        audit.close()
    for path in (journal_path, checkpoint_path, meta_path):
        path.unlink(missing_ok=True)
    return RunOutcome(
        run_id=run_id,
        out=options.out,
        audit_db=audit_db,
        summary=summary,
        resumed=resumed,
        records=records,
    )
