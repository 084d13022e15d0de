"""`cf-agent eval` as a service: every method on the same people, judged the same way.

The people are `plan_queries`' rows (predicted outside the desired class, file order, first n).
LLM methods (model strings: embedded, hf:..., openai:...) run through the agent with its
revise loop (`run_agent`): a bare model string is the LLM alone (no refinement), `<model>+refine`
the LLM followed by the search; `search` is the search alone, a baseline like the classic
ones, which propose k CFs per person once. Then cf-agent's
verifiers and metrics score every CF alike. Each judged person is journalled (fsynced JSONL per
method under journal/), so a killed evaluation resumes where it stopped and a later call with
more methods only runs the new ones; --overwrite starts afresh.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from threadpoolctl import threadpool_limits

from cf_agent.agent.journal import ResultJournal
from cf_agent.agent.queries import Query, require_queries
from cf_agent.agent.runner import RunOptions, run_agent, verifiers_for
from cf_agent.data.cohort import Cohort, load_cohort
from cf_agent.data.spec import load_spec
from cf_agent.errors import OutputError
from cf_agent.eval.interventions import InterventionSummary, summarize_interventions
from cf_agent.eval.judge import CFJudge, QueryResult, SlotResult
from cf_agent.eval.options import EvalOptions
from cf_agent.eval.report import ReportFiles, ReportInfo, write_report
from cf_agent.eval.table import MethodSummary, summarize_method
from cf_agent.fingerprint import options_fingerprint
from cf_agent.locks import exclusive
from cf_agent.models.baselines import UnknownMethodError, load_baseline
from cf_agent.models.classifier import ClassifierBundle, load_bundle, training_rows
from cf_agent.models.registry import is_model_string, split_method
from cf_agent.proposers import CFRequest, Proposal, Proposer
from cf_agent.study_dir import (
    JOURNAL_DIR,
    RUNS_DIR,
    check_methods,
    method_slug,
    prepare_study_dir,
)

META_FILE = "eval.json"

ProgressFn = Callable[[str, int, int], None]


class EvalOutcome(BaseModel):
    out: Path
    files: ReportFiles
    summaries: list[MethodSummary]
    interventions: list[InterventionSummary]
    resumed: int = Field(description="Judged people taken from an earlier, interrupted run.")
    failed: dict[str, str] = Field(
        default_factory=dict, description="Baselines whose library failed, and why (not kept)."
    )


def _methods(options: EvalOptions, proposers: Mapping[str, Proposer]) -> list[str]:
    methods = list(dict.fromkeys(m.strip() for m in options.methods if m.strip()))
    if not methods:
        raise UnknownMethodError("no method given", "pass --methods, e.g. dice-random,nice")
    check_methods(methods, proposers)
    return methods


def _fingerprint(options: EvalOptions, cohort: Cohort, bundle: ClassifierBundle) -> str:
    # Paths, methods and speed settings may change between calls; what shapes results may not.
    keyed = options.model_dump(
        mode="json",
        exclude={
            *("data", "spec", "model_dir", "out", "methods", "overwrite", "command", "api_key"),
            *("batch_size", "concurrency"),
        },
    )
    prompts = (options.prompt, options.revise_prompt)
    return options_fingerprint(keyed, cohort, prompts, classifier=bundle.metadata.file_sha256)


def _baseline_options(method: str, options: EvalOptions) -> dict[str, Any]:
    extra: dict[str, Any] = {"time_limit_s": options.time_limit_s, "seed": options.seed}
    if method.startswith("cfnow-"):
        extra["limit_seconds"] = options.cfnow_seconds
    if method == "nice":
        extra["optimization"] = options.nice_optimization
    return extra


def _request(query: Query, desired_class: int) -> CFRequest:
    return CFRequest(
        query_id=query.query_id,
        row=query.row,
        current_class=query.current_class,
        desired_class=desired_class,
    )


def _run_baseline(
    method: str,
    proposer: Proposer,
    queries: Sequence[Query],
    pending: Sequence[Query],
    judge: CFJudge,
    journal: ResultJournal,
    k: int,
    progress: ProgressFn | None,
) -> None:
    done = len(queries) - len(pending)
    for query in pending:
        requests = [_request(query, judge.spec.desired_class)] * k
        started = time.perf_counter()
        proposals = proposer.propose(requests)
        seconds = time.perf_counter() - started
        with threadpool_limits(limits=1):
            result = judge.judge(method, query.query_id, query.row, proposals, k, seconds)
        journal.append(result.model_dump(mode="json"))
        done += 1
        if progress is not None:
            progress(method, done, len(queries))


def _failed_result(method: str, query: Query, k: int, reason: str) -> QueryResult:
    """A person a failed baseline never reached: k empty slots with the failure as reason.

    Not journalled, so a rerun (after the library is fixed) tries these people again.
    """
    slots = [SlotResult(cf_index=i, returned=False, error=reason, source=method) for i in range(k)]
    return QueryResult(
        method=method, query_id=query.query_id, query=query.row, seconds=0.0, slots=slots
    )


def _llm_proposals(method: str, record: dict[str, Any]) -> list[Proposal]:
    proposals = [
        Proposal(values=cf["values"], source=cf["source"]) for cf in record["counterfactuals"]
    ]
    reason = (
        f"the agent found {len(proposals)} of {record['k']} verified CFs "
        f"in {record['rounds']} rounds ({record['status']})"
    )
    missing = record["k"] - len(proposals)
    return proposals + [Proposal(values=None, source=method, error=reason)] * missing


def _run_llm(
    method: str,
    proposer: Proposer | None,
    options: EvalOptions,
    queries: Sequence[Query],
    pending: Sequence[Query],
    judge: CFJudge,
    journal: ResultJournal,
    progress: ProgressFn | None,
) -> None:
    """The agent loop over the same people (run_agent resumes itself), then the same judging."""
    out = options.out / RUNS_DIR / f"{method_slug(method)}.jsonl"
    model, refine = split_method(method)
    if not out.exists():
        run_options = RunOptions(
            data=options.data,
            spec=options.spec,
            model_dir=options.model_dir,
            out=out,
            model=model,
            prompt=options.prompt,
            revise_prompt=options.revise_prompt,
            k=options.k,
            max_rounds=options.max_rounds,
            refine=refine,
            hints=options.hints,
            n=options.n,
            margin=options.margin,
            audit_db=options.out / RUNS_DIR / "audit.db",
            base_url=options.base_url,
            api_key=options.api_key,
            batch_size=options.batch_size,
            concurrency=options.concurrency,
        )
        run_agent(
            run_options,
            proposer=proposer,
            progress=None if progress is None else lambda d, t, _: progress(method, d, t),
        )
    lines = out.read_text(encoding="utf-8").splitlines()
    records = {str(r["query_id"]): r for r in map(json.loads, lines)}
    for query in pending:
        record = records.get(query.query_id)
        if record is None:
            raise OutputError(
                f"{out} has no result for person {query.query_id}",
                f"delete {out} and rerun to redo {method}",
            )
        with threadpool_limits(limits=1):
            result = judge.judge(
                method,
                query.query_id,
                query.row,
                _llm_proposals(method, record),
                options.k,
                float(record["seconds"]),
                llm_calls=int(record["llm_calls"]),
            )
        journal.append(result.model_dump(mode="json"))
    if progress is not None:
        progress(method, len(queries), len(queries))


def _report_info(
    options: EvalOptions, cohort: Cohort, bundle: ClassifierBundle, queries: int
) -> ReportInfo:
    meta = bundle.metadata
    scores = ", ".join(f"{name} {value:.3f}" for name, value in meta.metrics.items())
    return ReportInfo(
        command=options.command,
        data=f"{options.data} (hash {cohort.data_hash}, {len(cohort)} rows)",
        spec=f"{cohort.spec.name} (hash {cohort.spec.spec_hash()})",
        classifier=f"{meta.kind} from {options.model_dir}" + (f"; test {scores}" if scores else ""),
        queries=queries,
        k=options.k,
        margin=options.margin,
        created_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def evaluate(
    options: EvalOptions,
    proposers: Mapping[str, Proposer] | None = None,
    progress: ProgressFn | None = None,
) -> EvalOutcome:
    """Run (or resume) every method on the same people, score them alike, write the report.

    `proposers` maps method names to ready proposers used instead of loading them (an LLM
    proposer, is_llm True, still runs through the agent loop). The output folder is held for
    the evaluation: a second one on it is refused.
    """
    with exclusive([options.out], "cf-agent eval"):
        return _evaluate(options, dict(proposers or {}), progress)


def _evaluate(
    options: EvalOptions, proposers: dict[str, Proposer], progress: ProgressFn | None
) -> EvalOutcome:
    methods = _methods(options, proposers)
    spec = load_spec(options.spec)
    cohort = load_cohort(options.data, spec)
    bundle = load_bundle(options.model_dir, spec)
    queries = require_queries(cohort, bundle, options.n, options.data, "evaluate")
    prepare_study_dir(
        options.out,
        META_FILE,
        _fingerprint(options, cohort, bundle),
        overwrite=options.overwrite,
        what="an evaluation",
        shaped_by="data, spec, classifier, n, k, margin, seed, limits or prompts",
    )
    train = training_rows(cohort, options.model_dir)
    verifiers = verifiers_for(spec, bundle, train, options.margin)
    judge = CFJudge(spec, verifiers, bundle, train[spec.feature_names])

    results: dict[str, list[QueryResult]] = {}
    summaries, interventions, resumed = [], [], 0
    failed: dict[str, str] = {}  # method -> why it stopped; its people get empty slots
    for method in methods:
        journal = ResultJournal(options.out / JOURNAL_DIR / f"{method_slug(method)}.jsonl")
        pending = [q for q in queries if q.query_id not in journal]
        resumed += len(queries) - len(pending)
        given = proposers.get(method)
        is_llm = given.is_llm if given is not None else is_model_string(method)
        if pending and is_llm:
            _run_llm(method, given, options, queries, pending, judge, journal, progress)
        elif pending:
            try:
                proposer = given or load_baseline(
                    method, spec, bundle, train, **_baseline_options(method, options)
                )
                _run_baseline(
                    method, proposer, queries, pending, judge, journal, options.k, progress
                )
            except OutputError:
                raise  # the journal cannot be written: no other method could be either
            except Exception as exc:  # a library that fails ends its method, not the study
                failed[method] = f"{method} failed: {type(exc).__name__}: {exc}"
        results[method] = [
            QueryResult.model_validate(journal.records[q.query_id])
            if q.query_id in journal
            else _failed_result(method, q, options.k, failed[method])
            for q in queries
        ]
        summaries.append(summarize_method(method, results[method], is_llm))
        interventions.append(summarize_interventions(spec, method, results[method]))

    info = _report_info(options, cohort, bundle, len(queries))
    files = write_report(options.out, info, spec, summaries, interventions, results)
    return EvalOutcome(
        out=options.out,
        files=files,
        summaries=summaries,
        interventions=interventions,
        resumed=resumed,
        failed=failed,
    )
