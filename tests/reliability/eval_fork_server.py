"""Forks `evaluate` children on request, so a kill trial skips Python's imports (seconds each).

argv[1]: an EvalOptions JSON file. Each stdin line names an output folder; the server forks a
child that runs the evaluation into it, prints the child's pid, waits, and prints its exit
status (the raw waitpid status: 0 finished, 9 killed by SIGKILL). The server itself computes
nothing before forking, so the children start from a clean, single-threaded process.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import cf_agent.models.baselines.dice  # noqa: F401 - imported once here, not in each child
from cf_agent.eval import EvalOptions, evaluate


def main() -> None:
    options = EvalOptions.model_validate_json(Path(sys.argv[1]).read_text(encoding="utf-8"))
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                evaluate(options.model_copy(update={"out": Path(line.strip())}))
            except BaseException:
                traceback.print_exc()
                code = 1
            os._exit(code)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(status, flush=True)


if __name__ == "__main__":
    main()
