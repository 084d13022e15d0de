"""The core never imports textual: only cf_agent.tui does, and the CLI loads it lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cf_agent.audit.migrations import AuditError
from cf_agent.audit.store import AuditStore

CORE_PACKAGES = ("agent", "tools", "models", "audit", "data", "prompts", "review")
IMPORT_ALL_CORE = f"""
import importlib, pkgutil, sys
names = ["cf_agent.cli", "cf_agent.services"]
for package in {CORE_PACKAGES!r}:
    module = importlib.import_module("cf_agent." + package)
    names += [m.name for m in pkgutil.walk_packages(module.__path__, module.__name__ + ".")]
for name in names:
    importlib.import_module(name)
leaked = sorted(m for m in sys.modules if m.split(".")[0] == "textual")
print(len(names), leaked)
"""


def test_core_modules_do_not_import_textual() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL_CORE], capture_output=True, text=True, check=True
    )
    count, leaked = done.stdout.split(" ", 1)
    assert int(count) > 30 and leaked.strip() == "[]"


def test_tui_command_refuses_an_unknown_run_before_starting(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    AuditStore(db).close()
    command = [sys.executable, "-m", "cf_agent", "tui", "--db", str(db), "--run", "NOPE"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == AuditError.exit_code
    assert "no run 'NOPE'" in done.stderr and done.stdout == ""
