"""Benchmark: peak memory (max RSS) of `cf-agent run` at 1,000 and 10,000 people.

Each size runs `python -m cf_agent run` in a subprocess; its peak resident set size comes from
the kernel when the process is reaped (os.wait4), so nothing samples or misses a spike.

Which proposer, and why: no LLM writes 10,000 proposals in a benchmark's time on 2 cores (the
embedded model takes ~20 s per proposal), and `run` takes model strings only, not baselines.
So the run talks to a loopback OpenAI-compatible endpoint that refuses every request with
HTTP 400, which the backend does not retry: each query spends its one LLM round (--max-rounds
1) in about a millisecond and deterministic refinement writes the CF. The figure is therefore
cf-agent's own memory at scale: cohort, classifier, verifiers, graph checkpoints, journal, audit
log and output. A local model adds its weights on top (the embedded SmolLM2-135M: ~0.5 GB in
fp32, see "Embedded model" in docs/benchmarks.md).

The cohort must hold at least the largest size of abnormal-predicted people: the demo cohort
has ~30 % of them, so the default is 34,000 people (--cohort).

Takes ~5 min at 1,000 and ~45 min at 10,000 people on 2 busy cores (~0.27 s per person).

Usage: python bench/memory.py [--sizes 1000,10000] [--cohort 34000] [--kind logreg]
       [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    demo_world,
    machine_line,
    markdown_table,
    refusing_server,
    rich_table,
    update_docs_section,
)
from rich.console import Console

from cf_agent.agent.queries import plan_queries
from cf_agent.data.cohort import load_cohort
from cf_agent.data.spec import load_spec
from cf_agent.models.classifier import load_bundle

HEADERS = ("people", "peak RSS MiB", "wall s", "s per person", "LLM requests", "exit")


def peak_rss_run(command: list[str], log: Path) -> tuple[int, float, int]:
    """Run `command`; return (exit code, seconds, peak RSS in KiB) of that one process."""
    started = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.perf_counter() - started, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000", help="people per run")
    parser.add_argument("--cohort", type=int, default=34_000, help="demo cohort size")
    parser.add_argument(
        "--kind", default="logreg", help="classifier (logreg trains in seconds at 34k rows)"
    )
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    console = Console()
    why = __doc__.split("Usage:")[0].split("\n\n")[1:]
    console.print("\n\n".join(" ".join(paragraph.split()) for paragraph in why), style="dim")
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        console.print(f"demo cohort of {args.cohort:,} people, {args.kind} classifier ...")
        world = demo_world(root, n=args.cohort, seed=0, kind=args.kind)
        spec = load_spec(world.spec)
        abnormal = len(
            plan_queries(load_cohort(world.csv, spec), load_bundle(world.model_dir, spec), None)
        )
        if abnormal < max(sizes):
            raise SystemExit(
                f"the cohort has only {abnormal:,} abnormal-predicted people for a run of "
                f"{max(sizes):,}: raise --cohort"
            )
        with refusing_server() as (base_url, served):
            for size in sizes:
                before = served[0]
                out = root / f"run-{size}" / "results.jsonl"
                command = [
                    *(sys.executable, "-m", "cf_agent", "run", "--data", str(world.csv)),
                    *("--spec", str(world.spec), "--classifier", str(world.model_dir)),
                    *("--out", str(out), "--n", str(size), "--max-rounds", "1"),
                    *("--model", "openai:refuse", "--base-url", base_url, "--api-key", "sk-x"),
                ]
                console.print(f"cf-agent run on {size:,} people ...")
                code, wall, kib = peak_rss_run(command, root / f"run-{size}.log")
                if code != 0:
                    tail = (root / f"run-{size}.log").read_text(errors="replace")[-2000:]
                    console.print(f"[red]exit {code}[/]\n{tail}")
                rows.append(
                    [
                        f"{size:,}",
                        f"{kib / 1024:,.0f}",
                        f"{wall:,.0f}",
                        f"{wall / size:.3f}",
                        str(served[0] - before),
                        str(code),
                    ]
                )
    title = f"cf-agent run, peak RSS ({abnormal:,} abnormal of {args.cohort:,} demo people)"
    console.print(rich_table(title, HEADERS, rows))
    machine = machine_line()
    console.print(machine)
    if args.write_docs:
        body = (
            f"`python bench/memory.py --sizes {args.sizes} --cohort {args.cohort} --kind "
            f"{args.kind}`: `cf-agent run --max-rounds 1` in a subprocess against a loopback "
            "endpoint that refuses every request (HTTP 400, not retried), so refinement writes "
            "every CF and the figure is cf-agent's own memory without model weights (add ~0.5 GB "
            f"for the embedded model). Peak RSS from os.wait4. Machine: {machine}.\n\n"
            + markdown_table(HEADERS, rows)
        )
        console.print(f"updated {update_docs_section('bench/memory.py', 'Memory', body)}")


if __name__ == "__main__":
    main()
