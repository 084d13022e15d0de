"""Atomic writes: a file appears complete under its final name or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cf_agent.errors import OutputError


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError(
            f"cannot write {target}: {exc.strerror or exc}",
            "choose an output directory you can write to",
        ) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(
            f"cannot write {target}: {exc.strerror or exc}",
            "check free disk space and permissions of the output directory",
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)


def ensure_writable(path: Path | str) -> None:
    """Fail now, not after an hour of work, if `path`'s directory cannot take a new file."""
    with atomic_path(Path(path).with_name(f".{Path(path).name}.probe")) as tmp:
        tmp.write_bytes(b"")
    Path(path).with_name(f".{Path(path).name}.probe").unlink()


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_state_file(path: Path, fix: str) -> dict[str, Any]:
    """A small JSON object cf-agent wrote to resume work; a damaged one is an OutputError."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path} is damaged or unreadable ({exc})", fix) from None
    if not isinstance(data, dict):
        raise OutputError(f"{path} is damaged (not a JSON object)", fix)
    return data
