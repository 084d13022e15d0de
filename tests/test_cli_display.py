"""What the CLI shows: progress lines for logs, and library noise hidden unless -v."""

from __future__ import annotations

import io
import subprocess
import sys

from rich.console import Console

from cf_agent.cli.display import ProgressLog, progress_display


def test_progress_log_prints_at_once_then_at_most_every_interval_and_at_the_end() -> None:
    text = io.StringIO()
    log = ProgressLog(Console(file=text, width=200), "people", every_s=3600)
    log.update(0, 10)
    log.update(3, 10)  # within the interval: not printed
    log.update(10, 10)  # the last one always is
    lines = text.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("people: 0/10")
    assert lines[1].startswith("people: 10/10 (100%)") and "s each" in lines[1]


def test_a_console_that_is_not_a_terminal_gets_log_lines() -> None:
    console = Console(file=io.StringIO(), force_terminal=False)
    with progress_display(console, "people") as shown:
        assert isinstance(shown, ProgressLog)


def test_library_warnings_are_hidden_unless_verbose() -> None:
    code = (
        "import warnings, os; from cf_agent.cli.display import quiet_libraries; "
        "quiet_libraries({verbose}); "
        "warnings.warn_explicit('library noise', FutureWarning, 'x.py', 1, module='transformers'); "
        "warnings.warn_explicit('ours', UserWarning, 'y.py', 1, module='cf_agent.api'); "
        "print(os.environ.get('TQDM_DISABLE'))"
    )
    for verbose, noise, tqdm in ((False, False, "1"), (True, True, "None")):
        done = subprocess.run(
            [sys.executable, "-c", code.format(verbose=verbose)],
            capture_output=True,
            text=True,
            check=True,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
        )
        assert ("library noise" in done.stderr) is noise and "ours" in done.stderr
        assert done.stdout.strip() == tqdm
