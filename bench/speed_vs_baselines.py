"""Benchmark: seconds per verified CF and validity, the agent (embedded) vs classic baselines.

A thin wrapper around `cf-agent eval` (cf_agent/eval/evaluate.py): every method runs on the same
people (the first --n demo rows the classifier predicts abnormal; demo cohort 2,000 people,
seed 0, gradient boosting) and the same verifiers judge every CF. Targets: the agent's median
seconds per verified CF at most dice-random's seconds per CF, and 100 % of the agent's returned
CFs valid.

Usage: python bench/speed_vs_baselines.py [--n 100] [--methods embedded,dice-random,...]
       [--out DIR (keeps the eval; a rerun resumes)] [--write-docs]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import demo_world, machine_line, markdown_table, rich_table, update_docs_section
from rich.console import Console
from rich.progress import Progress, TaskID

from cf_agent.eval import EvalOptions, evaluate
from cf_agent.eval.table import MethodSummary

METHODS = "embedded,dice-random,dice-genetic,cfnow-greedy"
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


def verdicts(
    summaries: list[MethodSummary], agent: str, reference: str, agent_wall: float | None
) -> list[str]:
    """The targets, judged on the agent's throughput: its queries run in parallel batches, so
    a query's own latency (the table's median) counts the wait for its batch mates."""
    by_method = {s.method: s for s in summaries}
    if agent not in by_method or reference not in by_method:
        return [f"targets need both {agent} and {reference} in --methods"]
    mine, theirs = by_method[agent], by_method[reference]
    lines = []
    verified = round((mine.success.mean or 0.0) * mine.queries)
    a = agent_wall / verified if agent_wall is not None and verified else None
    b = theirs.median_seconds_per_cf
    if a is None or b is None:
        lines.append(f"speed target: n/a ({agent} {a}, {reference} {b})")
    else:
        met = "met" if a <= b else "NOT met"
        lines.append(
            f"speed target {met}: {agent} {a:.3g} s per verified CF (wall {agent_wall:.0f} s / "
            f"{verified} verified CFs; per-query latency median "
            f"{mine.median_seconds_per_cf or float('nan'):.3g} s) vs {reference} {b:.3g} s per CF"
        )
    share = all_checks_of_returned(mine)
    met = "met" if share is not None and share >= 1.0 else "NOT met"
    lines.append(
        f"validity target {met}: {_share(share)} of {agent}'s returned CFs pass all checks"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100, help="people (abnormal-predicted rows)")
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--agent", default="embedded", help="the method held to the targets")
    parser.add_argument("--max-rounds", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--time-limit", type=float, default=30.0, help="baseline s per person")
    parser.add_argument("--out", type=Path, help="eval directory to keep (default: temporary)")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()

    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        world = demo_world(root, n=2000, seed=0, kind="gbm")
        options = EvalOptions(
            data=world.csv,
            spec=world.spec,
            model_dir=world.model_dir,
            out=args.out or root / "eval",
            methods=tuple(args.methods.split(",")),
            n=args.n,
            max_rounds=args.max_rounds,
            batch_size=args.batch_size,
            time_limit_s=args.time_limit,
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

    rows = [row(s) for s in outcome.summaries]
    title = f"seconds per CF and validity on {outcome.summaries[0].queries} abnormal demo rows"
    console.print(rich_table(title, HEADERS, rows))
    lines = verdicts(outcome.summaries, args.agent, "dice-random", agent_wall)
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
