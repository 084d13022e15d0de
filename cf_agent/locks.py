"""One process per output: a second command on the same output or audit log is refused.

`exclusive(paths, what)` takes an advisory lock (flock) on a small file beside each path,
`.lock.<name>`, holding the owner's pid and command. The kernel drops the lock when its process
ends, however it ends, so a SIGKILL never leaves a stale lock: the next command takes it over.
The lock file is removed on a clean exit; a taker checks that the file it locked is still the
one at that name, so removal never lets two processes in at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from cf_agent.errors import OutputError


class OutputBusyError(OutputError):
    """Another cf-agent process is writing the same output or audit log."""


def lock_path(path: Path) -> Path:
    return path.parent / f".lock.{path.name}"


def _holder(lock: Path) -> str:
    with contextlib.suppress(OSError):
        return lock.read_text(encoding="utf-8").strip()
    return "another process"


def _acquire(path: Path, what: str) -> int:
    lock = lock_path(path)
    while True:
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(
                f"cannot write {path}: {exc.strerror or exc}",
                "choose an output directory you can write to",
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputBusyError(
                f"{path} is in use by {_holder(lock)}: a second command on it would interleave "
                "its writes",
                "wait for that command to finish (or stop it), or choose another output path",
            ) from None
        try:
            current = os.stat(lock).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} ({what})\n".encode())
            return fd
        os.close(fd)  # its last holder removed it as we opened it: lock the new file


@contextlib.contextmanager
def exclusive(paths: Iterable[Path], what: str) -> Iterator[None]:
    """Hold every path's lock for the block; refuse at once (OutputBusyError) if one is held."""
    held: list[tuple[Path, int]] = []
    try:
        for path in dict.fromkeys(Path(p).absolute() for p in paths):
            held.append((path, _acquire(path, what)))
        yield
    finally:
        for path, fd in reversed(held):
            lock_path(path).unlink(missing_ok=True)  # while still holding it: see module doc
            os.close(fd)
