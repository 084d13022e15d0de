"""Benchmark: wall time and CFs per second as the batch grows, by batch size and by concurrency.

Three sweeps on the abnormal demo rows (demo cohort 2,000 people, seed 0, gradient boosting):
- rows: the embedded model on 10, 20, 40 people (--rows), batch size --batch-size;
- batch: the embedded model on --batch-rows people at batch sizes 1, 4, 8, 16 (--batch-sizes);
- concurrency: an openai: endpoint (llama-cpp-python's server with the same SmolLM2-135M GGUF on
  127.0.0.1, one thread) at --concurrency 1, 4, 8 (--concurrencies) on --concurrency-rows people.
LLM rounds default to 1 (--max-rounds) so the sweeps measure proposal throughput in about 20
minutes on 2 cores; wall times include model loading.

Usage: python bench/scaling.py [--parts rows,batch,concurrency] [--rows 10,20,40]
       [--batch-sizes 1,4,8,16] [--concurrencies 1,4,8] [--max-rounds 1] [--write-docs]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import (
    DemoWorld,
    demo_world,
    import_test_helpers,
    machine_line,
    markdown_table,
    rich_table,
    update_docs_section,
)
from rich.console import Console

from cf_agent.agent.runner import RunOptions, run_agent

HEADERS = ("sweep", "model", "people", "batch", "concurrency", "wall s", "CFs", "CFs/s", "s/CF")


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def measure(
    world: DemoWorld,
    out: Path,
    sweep: str,
    model: str,
    people: int,
    max_rounds: int,
    batch_size: int = 8,
    concurrency: int = 4,
    base_url: str | None = None,
) -> list[str]:
    """One run_agent call; its row of the table."""
    started = time.perf_counter()
    outcome = run_agent(
        RunOptions(
            data=world.csv,
            spec=world.spec,
            model_dir=world.model_dir,
            out=out,
            model=model,
            n=people,
            max_rounds=max_rounds,
            batch_size=batch_size,
            concurrency=concurrency,
            base_url=base_url,
            api_key="sk-local" if base_url else None,
        )
    )
    wall = time.perf_counter() - started
    s = outcome.summary
    return [
        sweep,
        model,
        str(s.queries),
        str(batch_size) if not base_url else "-",
        str(concurrency) if base_url else "-",
        f"{wall:.1f}",
        str(s.returned_cfs),
        f"{s.returned_cfs / wall:.3f}",
        f"{s.median_seconds_per_cf:.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--parts", default="rows,batch,concurrency")
    parser.add_argument("--model", default="embedded", help="local model of the first two sweeps")
    parser.add_argument("--rows", default="10,20,40")
    parser.add_argument("--batch-size", type=int, default=8, help="batch size of the rows sweep")
    parser.add_argument("--batch-rows", type=int, default=16)
    parser.add_argument("--batch-sizes", default="1,4,8,16")
    parser.add_argument("--concurrency-rows", type=int, default=16)
    parser.add_argument("--concurrencies", default="1,4,8")
    parser.add_argument("--server-threads", type=int, default=1, help="llama.cpp server threads")
    parser.add_argument("--max-rounds", type=int, default=1)
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",")}

    console = Console()
    rows: list[list[str]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        world = demo_world(root, n=2000, seed=0, kind="gbm")
        runs = iter(range(10_000))

        def out() -> Path:
            return root / "runs" / f"{next(runs)}.jsonl"

        if "rows" in parts:
            for people in _ints(args.rows):
                console.print(f"rows sweep: {people} people, batch {args.batch_size}")
                rows.append(
                    measure(
                        world, out(), "rows", args.model, people, args.max_rounds, args.batch_size
                    )
                )
        if "batch" in parts:
            for size in _ints(args.batch_sizes):
                console.print(f"batch sweep: {args.batch_rows} people, batch {size}")
                rows.append(
                    measure(
                        world, out(), "batch", args.model, args.batch_rows, args.max_rounds, size
                    )
                )
        if "concurrency" in parts:
            import_test_helpers()
            from llm_server import MODEL_ALIAS, llama_server, smollm2_gguf

            with llama_server(smollm2_gguf(), n_threads=args.server_threads) as base_url:
                for level in _ints(args.concurrencies):
                    console.print(
                        f"concurrency sweep: {args.concurrency_rows} people, concurrency {level}"
                    )
                    rows.append(
                        measure(
                            world,
                            out(),
                            "concurrency",
                            f"openai:{MODEL_ALIAS}",
                            args.concurrency_rows,
                            args.max_rounds,
                            concurrency=level,
                            base_url=base_url,
                        )
                    )
    wall = time.perf_counter() - started
    title = f"scaling, max {args.max_rounds} LLM round(s), abnormal demo rows"
    console.print(rich_table(title, HEADERS, rows))
    machine = machine_line()
    console.print(f"total wall {wall:.0f} s; {machine}")
    if args.write_docs:
        command = (
            f"python bench/scaling.py --parts {args.parts} --rows {args.rows} "
            f"--batch-rows {args.batch_rows} --batch-sizes {args.batch_sizes} "
            f"--concurrency-rows {args.concurrency_rows} --concurrencies {args.concurrencies} "
            f"--max-rounds {args.max_rounds}"
        )
        body = (
            f"`{command}`: demo cohort 2,000 people, seed 0, gbm; wall times include model "
            f"loading; the concurrency sweep runs llama-cpp-python's server on 127.0.0.1 with "
            f"{args.server_threads} thread(s). Machine: {machine}; total {wall:.0f} s.\n\n"
            + markdown_table(HEADERS, rows)
        )
        console.print(f"updated {update_docs_section('bench/scaling.py', 'Scaling', body)}")


if __name__ == "__main__":
    main()
