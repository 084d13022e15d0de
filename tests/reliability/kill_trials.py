"""Kill trials of a `cf-agent` command: SIGKILLs at random moments, children forked from a server.

`CliForkServer` (cli_fork_server.py) forks children that run the CLI, so the kills land in the
work, not in Python's imports. `kill_trials` starts the command on a folder and kills it after
a random delay, again and again; a child that finishes before its kill sends the next trials to
a new folder. Each delay is a random moment of the work the folder still has (what earlier
children there finished is skipped), never less than a quarter of the whole; a whole run that
finishes before its kill (caches warmed since the estimate) lowers the estimate.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])}


class CliForkServer:
    def __init__(self, log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("cli_fork_server.py"))],
            env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def start(self, args: list[str]) -> int:
        """Fork a child running `cf-agent <args>`; its pid."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps([str(self.log), *args]) + "\n")
        self.process.stdin.flush()
        return self._number()

    def status(self) -> int:
        """The child's raw wait status: 0 finished, 9 killed by SIGKILL."""
        return self._number()

    def _number(self) -> int:
        assert self.process.stdout is not None
        return int(self.process.stdout.readline())

    def __enter__(self) -> CliForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def kill_trials(
    server: CliForkServer,
    arguments: Callable[[Path], list[str]],
    folder: Callable[[int], Path],
    kills: int,
    work_seconds: float,
    seed: int = 18,
    on_kill: Callable[[Path], None] = lambda out: None,
) -> list[Path]:
    """Kill `cf-agent <arguments(out)>` `kills` times; the folders used, the last one killed."""
    rng = random.Random(seed)
    folders = [folder(0)]
    done, alive = 0, 0.0
    while done < kills:
        started = time.monotonic()
        pid = server.start(arguments(folders[-1]))
        delay = rng.uniform(0.0, max(work_seconds - alive, work_seconds / 4))
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):  # it may have finished already
            os.kill(pid, signal.SIGKILL)
        code = server.status()
        assert code in (0, signal.SIGKILL), f"the child failed ({code}): {server.log.read_text()}"
        if code == signal.SIGKILL:
            done += 1
            alive += delay
            on_kill(folders[-1])
        else:  # it finished before its kill: go on killing in a new folder
            if alive == 0.0:  # a whole run, quicker than the estimate (warm caches)
                work_seconds = min(work_seconds, time.monotonic() - started)
            folders.append(folder(len(folders)))
            alive = 0.0
    return folders
