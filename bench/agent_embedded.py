"""Benchmark: the agent with a local model on abnormal demo rows.

Prints success rate, mean LLM rounds, share refined and time per verified CF (latency and
throughput: queries run in parallel batches).
Usage: python bench/agent_embedded.py [--n 50] [--model embedded] [--prompt zero_shot]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cf_agent.agent.runner import RunOptions, run_agent
from cf_agent.data.demo import write_demo
from cf_agent.services import train_and_save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--prompt", default="zero_shot")
    parser.add_argument("--max-rounds", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = write_demo(root / "data", n=2000, seed=0)
        train_and_save(files.csv, files.spec, root / "model", "gbm", 0.25, 0)
        started = time.perf_counter()
        outcome = run_agent(
            RunOptions(
                data=files.csv,
                spec=files.spec,
                model_dir=root / "model",
                out=root / "results.jsonl",
                model=args.model,
                prompt=args.prompt,
                n=args.n,
                max_rounds=args.max_rounds,
                batch_size=args.batch_size,
            )
        )
        wall = time.perf_counter() - started

    s = outcome.summary
    table = Table(title=f"cf-agent, {args.model}, {args.prompt}, {s.queries} abnormal demo rows")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = {
        "success rate (verified CF returned)": f"{s.success_rate:.2f}",
        "success rate, LLM-written CFs only": f"{s.llm_only_success_rate:.2f}",
        "validity of returned CFs": f"{s.returned_validity:.2f}",
        "first proposal valid": f"{s.first_proposal_validity:.2f}",
        "LLM proposals valid": f"{s.llm_proposal_validity:.2f}",
        "unparsable LLM answers": f"{s.parse_failure_rate:.2f}",
        "share refined": f"{s.refined_share:.2f}",
        "mean LLM rounds": f"{s.mean_rounds:.2f}",
        "mean features changed": f"{s.mean_sparsity:.2f}",
        "median s per verified CF (a query's latency)": f"{s.median_seconds_per_cf:.2f}",
        "wall s per verified CF (throughput)": f"{s.wall_seconds_per_cf or float('nan'):.2f}",
        "wall time, s (incl. model load)": f"{wall:.1f}",
    }
    for key, value in rows.items():
        table.add_row(key, value)
    console = Console()
    console.print(table)
    console.print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
