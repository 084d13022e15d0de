"""Benchmark: the LLM alone, the LLM with refinement, the search alone and the classic
baselines, side by side on the same people, with the targets of the LLM-alone row.

A thin wrapper around `cf-agent eval` (cf_agent/eval/evaluate.py): every method runs on the same
people (the first --n demo rows the classifier predicts abnormal; demo cohort 2,000 people,
seed 0, gradient boosting: a seed no fine-tuning used) and the same verifiers judge every CF.
`embedded` is the LLM alone (no refinement), `embedded+refine` the LLM followed by the search,
`search` the search alone. Targets (issue 15): first proposal valid >= 80 %, LLM-only success
>= 95 %, >= 90 % of all proposals plausible, no immutable changed, no more features changed than
`search`, success above DiCE-random, CFNOW and NICE (and with refinement above `search`), and
seconds per verified CF (throughput) at most DiCE-random's.

Usage: python bench/speed_vs_baselines.py [--n 100] [--methods embedded,dice-random,...]
       [--agent METHOD] [--prompt compact] [--out DIR (keeps the eval; a rerun resumes)]
       [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import (
    benchmark_eval_options,
    machine_line,
    markdown_table,
    rich_table,
    update_docs_section,
)
from rich.console import Console
from rich.progress import Progress, TaskID

from cf_agent.agent.summary import RunSummary, summarize
from cf_agent.eval import evaluate
from cf_agent.eval.table import MethodSummary
from cf_agent.study_dir import RUNS_DIR, method_slug

METHODS = "embedded,embedded+refine,search,dice-random,cfnow-greedy,nice"
HEADERS = (
    "method",
    "people",
    "CFs returned",
    "success",
    "valid of returned",
    "passes all verifiers",
    "median s per CF",
)


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def valid_of_returned(s: MethodSummary) -> float | None:
    """Share of returned CFs that flip the classifier (validity is per requested CF)."""
    if not s.returned or s.validity.mean is None:
        return None
    return s.validity.mean * s.requested / s.returned


def all_checks_of_returned(s: MethodSummary) -> float | None:
    """Share of returned CFs passing all three verifiers (success is per person, k = 1)."""
    if not s.returned or s.success.mean is None:
        return None
    return s.success.mean * s.queries / s.returned


def row(s: MethodSummary) -> list[str]:
    seconds = s.median_seconds_per_cf
    return [
        s.method,
        str(s.queries),
        str(s.returned),
        _share(s.success.mean),
        _share(valid_of_returned(s)),
        _share(all_checks_of_returned(s)),
        "n/a" if seconds is None else f"{seconds:.3g}",
    ]


def _rate(share: float | None) -> float:
    return share if share is not None else 0.0


def verdicts(
    summaries: list[MethodSummary],
    agent: str,
    reference: str,
    agent_wall: float | None,
    agent_run: RunSummary | None,
) -> list[str]:
    """The targets of the LLM-alone row (`agent`, no refinement), each judged on its figure.

    Speed is judged on the agent's throughput (its queries run in parallel batches, so a
    query's own latency counts the wait for its batch mates) against the reference's time per
    CF divided by its share of returned CFs passing all three verifiers.
    """
    by_method = {s.method: s for s in summaries}
    if agent not in by_method or reference not in by_method:
        return [f"targets need both {agent} and {reference} in --methods"]
    mine, theirs = by_method[agent], by_method[reference]
    lines = []
    verified = round((mine.success.mean or 0.0) * mine.queries)
    a = agent_wall / verified if agent_wall is not None and verified else None
    their_share = all_checks_of_returned(theirs)
    b = (
        theirs.median_seconds_per_cf / their_share
        if theirs.median_seconds_per_cf is not None and their_share
        else None
    )
    if a is None or b is None:
        lines.append(f"speed target: n/a ({agent} {a}, {reference} {b})")
    else:
        met = "met" if a <= b else "NOT met"
        lines.append(
            f"speed target {met}: {agent} {a:.3g} s per verified CF (wall {agent_wall:.0f} s / "
            f"{verified} verified CFs) vs {reference} {b:.3g} s per verified CF "
            f"({theirs.median_seconds_per_cf:.3g} s per CF / {_share(their_share)} passing)"
        )
    if agent_run is not None:
        checks = [
            ("first proposal passes all verifiers", agent_run.first_proposal_validity, 0.80),
            ("LLM-only success within the rounds", agent_run.llm_only_success_rate, 0.95),
            ("all LLM proposals plausible", agent_run.llm_proposal_plausible, 0.90),
        ]
        for name, value, target in checks:
            met = "met" if value >= target else "NOT met"
            lines.append(f"{name}: {value:.0%} (target >= {target:.0%}, {met})")
    violations = mine.immutable_violations.mean
    lines.append(f"immutables changed per returned CF: {violations or 0:.2f} (target 0)")
    if "search" in by_method and mine.sparsity.mean is not None:
        theirs_sparsity = by_method["search"].sparsity.mean or float("nan")
        met = "met" if mine.sparsity.mean <= theirs_sparsity else "NOT met"
        lines.append(
            f"features changed: {agent} {mine.sparsity.mean:.2f} vs search "
            f"{theirs_sparsity:.2f} ({met})"
        )
    for other in ("dice-random", "cfnow-greedy", "nice"):
        if other in by_method:
            ours, rival = _rate(mine.success.mean), _rate(by_method[other].success.mean)
            met = "met" if ours > rival else "NOT met"
            lines.append(f"success {agent} {ours:.0%} > {other} {rival:.0%}: {met}")
    refined = f"{agent}+refine"
    if refined in by_method and "search" in by_method:
        ours, rival = (
            _rate(by_method[refined].success.mean),
            _rate(by_method["search"].success.mean),
        )
        met = "met" if ours > rival else "NOT met"
        lines.append(f"success {refined} {ours:.0%} > search {rival:.0%}: {met}")
    return lines


def _run_summary(eval_dir: Path, method: str) -> RunSummary | None:
    """The agent run's own summary (every proposal, not only the returned CFs)."""
    path = eval_dir / RUNS_DIR / f"{method_slug(method)}.jsonl"
    if not path.exists():
        return None
    return summarize(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100, help="people (abnormal-predicted rows)")
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--agent", default="embedded", help="the method held to the targets")
    parser.add_argument("--max-rounds", type=int, default=4)
    parser.add_argument("--prompt", help="the LLM methods' prompt (default: per model)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--time-limit", type=float, default=30.0, help="baseline s per person")
    parser.add_argument("--out", type=Path, help="eval directory to keep (default: temporary)")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()

    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        options = benchmark_eval_options(
            root,
            args.out,
            args.methods,
            args.n,
            max_rounds=args.max_rounds,
            batch_size=args.batch_size,
            time_limit_s=args.time_limit,
            prompt=args.prompt,
        )
        started = time.perf_counter()
        with Progress(console=console, transient=True) as bar:
            tasks: dict[str, TaskID] = {}

            def advance(method: str, done: int, total: int) -> None:
                if method not in tasks:
                    tasks[method] = bar.add_task(method, total=total)
                bar.update(tasks[method], completed=done, total=total)

            agent_wall = None
            if args.agent in options.methods:  # alone first, timed; the second call resumes it
                evaluate(options.model_copy(update={"methods": (args.agent,)}), progress=advance)
                agent_wall = time.perf_counter() - started
            outcome = evaluate(options, progress=advance)
        wall = time.perf_counter() - started
        agent_run = _run_summary(options.out, args.agent)

    rows = [row(s) for s in outcome.summaries]
    title = f"seconds per CF and validity on {outcome.summaries[0].queries} abnormal demo rows"
    console.print(rich_table(title, HEADERS, rows))
    lines = verdicts(outcome.summaries, args.agent, "dice-random", agent_wall, agent_run)
    for line in lines:
        console.print(line)
    machine = machine_line()
    console.print(f"wall {wall:.0f} s; {machine}")
    if args.write_docs:
        body = "\n\n".join(
            [
                f"`python bench/speed_vs_baselines.py --n {args.n} --methods {args.methods}` "
                f"(demo cohort 2,000 people, seed 0, gbm; max {args.max_rounds} LLM rounds; "
                f"baselines {args.time_limit:g} s per person). Machine: {machine}; "
                f"wall {wall:.0f} s.",
                markdown_table(HEADERS, rows),
                "\n".join(f"- {line}" for line in lines),
            ]
        )
        path = update_docs_section("bench/speed_vs_baselines.py", "Speed vs baselines", body)
        console.print(f"updated {path}")


if __name__ == "__main__":
    main()
