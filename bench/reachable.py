"""How many of the benchmark's people any method reaches: the ceiling under the LLM's targets.

Runs the search and the classic baselines (`cf-agent eval`, --k CFs each) on the people of
bench/speed_vs_baselines.py (the first --n rows the classifier predicts abnormal; demo cohort
2,000 people, seed 0, gbm) and counts, per method and over all of them together, the people who
get at least one CF passing all three verifiers. A person no method reaches may have no CF the
verifiers accept at all, so the union bounds what the LLM alone can be expected to reach; for
the people outside it, it says which verifier their returned CFs fail.

Usage: python bench/reachable.py [--n 100] [--methods search,dice-random,...] [--k 5]
       [--time-limit 10] [--out DIR (keeps the eval; a rerun resumes)] [--write-docs]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from common import (
    benchmark_eval_options,
    machine_line,
    markdown_table,
    rich_table,
    update_docs_section,
)
from rich.console import Console

from cf_agent.eval import evaluate

METHODS = "search,dice-random,dice-genetic,cfnow-greedy,cfnow-random,nice"
CHECKS = ("valid", "actionable", "plausible")
LLM_ONLY_TARGET = 0.95
Record = dict[str, str]  # one row of rows.csv


def reached_people(
    rows_csv: Path,
) -> tuple[list[str], dict[str, set[str]], dict[str, list[Record]]]:
    """The people in order, each method's people with a CF passing all three verifiers, and
    every person's returned CFs (all methods)."""
    people: list[str] = []
    reached: dict[str, set[str]] = defaultdict(set)
    returned: dict[str, list[Record]] = defaultdict(list)
    with rows_csv.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            person = record["query_id"]
            if person not in people:
                people.append(person)
            if record["returned"] == "True":
                returned[person].append(record)
                if record["verified"] == "True":
                    reached[record["method"]].add(person)
    return people, reached, returned


def failing_checks(cfs: list[Record]) -> str:
    """Which verifiers a person's returned CFs fail, most often first ('none returned' if none)."""
    if not cfs:
        return "no CF returned"
    counts = {check: sum(cf[check] != "True" for cf in cfs) for check in CHECKS}
    failed = sorted((c for c in counts if counts[c]), key=lambda c: -counts[c])
    return ", ".join(f"{c} {counts[c]}/{len(cfs)}" for c in failed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100, help="people (abnormal-predicted rows)")
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--k", type=int, default=5, help="CFs asked of each method per person")
    parser.add_argument("--time-limit", type=float, default=10.0, help="baseline s per person")
    parser.add_argument("--out", type=Path, help="eval directory to keep (default: temporary)")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()

    console = Console()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        options = benchmark_eval_options(
            root, args.out, args.methods, args.n, k=args.k, time_limit_s=args.time_limit
        )
        outcome = evaluate(options)
        people, reached, returned = reached_people(outcome.files.rows_csv)
    wall = time.perf_counter() - started

    methods = list(options.methods)
    anyone = set().union(*(reached[m] for m in methods))
    rows = [[m, str(len(reached[m])), f"{len(reached[m]) / len(people):.0%}"] for m in methods]
    rows.append(["any of them", str(len(anyone)), f"{len(anyone) / len(people):.0%}"])
    headers = ("method", "people reached", f"share of {len(people)}")
    console.print(rich_table(f"people with a verified CF (k = {args.k})", headers, rows))
    missed = [p for p in people if p not in anyone]
    reasons = [f"{p}: {failing_checks(returned[p])}" for p in missed]
    for line in reasons:
        console.print(line)
    share = len(anyone) / len(people)
    verdict = (
        f"LLM-only target {LLM_ONLY_TARGET:.0%}: "
        + ("within" if share >= LLM_ONLY_TARGET else "above")
        + f" the {share:.0%} of people any of these methods reaches"
    )
    console.print(verdict)
    machine = machine_line()
    resumed = f" ({outcome.resumed} results resumed from --out)" if outcome.resumed else ""
    console.print(f"wall {wall:.0f} s{resumed}; {machine}")
    if args.write_docs:
        body = "\n\n".join(
            [
                f"`python bench/reachable.py --n {args.n} --methods {args.methods} --k {args.k} "
                f"--time-limit {args.time_limit:g}` (the people of Speed vs baselines; each "
                f"method asked for {args.k} CFs per person). Machine: {machine}; "
                f"wall {wall:.0f} s{resumed}.",
                markdown_table(headers, rows),
                f"- {verdict}",
                "People no method reaches, and the verifiers their returned CFs fail: "
                + "; ".join(reasons)
                + ".",
            ]
        )
        path = update_docs_section("bench/reachable.py", "People any method reaches", body)
        console.print(f"updated {path}")


if __name__ == "__main__":
    main()
