"""Forks `cf-agent` CLI children on request, so a kill trial skips Python's imports (seconds each).

Each stdin line is a JSON list: the log file for the child's output, then the command's
arguments (as after `cf-agent`). The server forks a child that runs `cf_agent.cli.main()` with
them, prints the child's pid, waits, and prints its exit status (the raw waitpid status: 0
finished, 9 killed by SIGKILL). The server itself computes nothing before forking, so the
children start from a clean, single-threaded process.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import peft  # noqa: F401 - imported once here, not in each child
import torch  # noqa: F401

import cf_agent.augment.study
import cf_agent.finetune.service
import cf_agent.models.baselines.search  # noqa: F401
from cf_agent.cli import main as cli_main


def run_child(log: str, args: list[str]) -> int:
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(out, 1)  # this server's stdout is its answer channel: keep the child off it
    os.dup2(out, 2)
    sys.argv = ["cf-agent", *args]
    try:
        cli_main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def main() -> None:
    for line in sys.stdin:
        log, *args = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = run_child(log, args)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(status, flush=True)


if __name__ == "__main__":
    main()
