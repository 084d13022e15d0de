"""What the benchmark scripts share: the demo world, tables, the docs section, loopback servers.

Run the scripts from the repository root (`python bench/<name>.py`); this folder is then on
sys.path, so they import this module directly.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rich.table import Table

from cf_agent.data.demo import write_demo
from cf_agent.eval import EvalOptions
from cf_agent.services import train_and_save

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = REPO / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class DemoWorld:
    csv: Path
    spec: Path
    model_dir: Path


def demo_world(root: Path, n: int = 2000, seed: int = 0, kind: str = "gbm") -> DemoWorld:
    """The seeded demo cohort and a classifier trained on it (split seed 0, 25 % held out)."""
    files = write_demo(root / "data", n=n, seed=seed)
    train_and_save(files.csv, files.spec, root / "model", kind, 0.25, 0)
    return DemoWorld(csv=files.csv, spec=files.spec, model_dir=root / "model")


def benchmark_eval_options(
    root: Path, out: Path | None, methods: str, n: int, **options: Any
) -> EvalOptions:
    """`cf-agent eval` options on the benchmark's people: the first `n` abnormal rows of the demo
    cohort (2,000 people, seed 0: a seed no fine-tuning used) under its gbm classifier."""
    world = demo_world(root, n=2000, seed=0, kind="gbm")
    return EvalOptions(
        data=world.csv,
        spec=world.spec,
        model_dir=world.model_dir,
        out=out or root / "eval",
        methods=tuple(methods.split(",")),
        n=n,
        **options,
    )


def machine_line() -> str:
    import torch

    return (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, python {platform.python_version()}, "
        f"torch {torch.__version__}, {datetime.date.today().isoformat()}"
    )


def rich_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    table = Table(*headers, title=title)
    table.columns[0].no_wrap = True
    for row in rows:
        table.add_row(*row)
    return table


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def update_docs_section(script: str, title: str, body: str) -> Path:
    """Replace (or append) the section of docs/benchmarks.md that `script` owns.

    The section sits between BEGIN/END comment lines naming the script, so a rerun replaces
    only its own figures and never touches the hand-written text around them.
    """
    begin, end = f"<!-- BEGIN {script} -->", f"<!-- END {script} -->"
    section = f"{begin}\n## {title}\n\n{body.strip()}\n{end}"
    text = BENCHMARKS_MD.read_text(encoding="utf-8")
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    tmp = BENCHMARKS_MD.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(BENCHMARKS_MD)
    return BENCHMARKS_MD


@contextmanager
def refusing_server() -> Iterator[tuple[str, list[int]]]:
    """A loopback OpenAI-compatible endpoint that answers every completion with HTTP 400.

    400 is not retried, so each LLM round fails in about a millisecond: runs against it measure
    cf-agent's own work (planning, verifiers, refinement, journal, audit log, output).
    Yields (base URL, [requests served]).
    """
    served = [0]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _send(self, code: int, payload: object) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send(200, {"object": "list", "data": [{"id": "refuse", "object": "model"}]})

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            served[0] += 1
            self._send(400, {"error": {"message": "this benchmark endpoint refuses on purpose"}})

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def import_test_helpers() -> None:
    """Put tests/ on sys.path: the llama.cpp server helper lives there (tests/llm_server.py)."""
    tests = str(REPO / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
