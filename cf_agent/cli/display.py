"""What the CLI shows: quiet libraries, progress that suits a terminal or a log, named figures.

Progress display lives here only; services report progress through plain callbacks.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

LOG_EVERY_S = 30.0


def run_figure_names() -> dict[str, str]:
    """RunSummary's fields as the CLI names them: what each figure is (docs/metrics.md)."""
    from cf_agent.tools.plausibility import PASS_QUANTILE

    return {
        "queries": "people explained",
        "success_rate": "share of people with a verified CF",
        "returned_cfs": "verified CFs returned",
        "returned_validity": "share of returned CFs passing all three checks",
        "llm_only_success_rate": "share of people with a CF the LLM wrote itself",
        "first_proposal_validity": "share of first LLM proposals verified",
        "llm_proposal_validity": "share of all LLM proposals verified",
        "parse_failure_rate": "share of LLM answers unusable",
        "llm_proposal_actionable": "share of all LLM proposals actionable",
        "llm_proposal_plausible": "share of all LLM proposals plausible",
        "refined_share": "share of returned CFs: search from an LLM proposal (refine)",
        "search_share": "share of returned CFs: search from the person's row (search)",
        "mean_rounds": "LLM rounds per person, mean",
        "mean_llm_calls": "LLM calls per person, mean",
        "mean_plausibility": (
            f"plausibility score of returned CFs, mean (a CF passes at >= {PASS_QUANTILE:g})"
        ),
        "mean_sparsity": "features changed per CF, mean",
        "median_seconds_per_cf": "seconds per CF, median over people",
        "wall_seconds_per_cf": "seconds per CF, run wall time",
    }


def quiet_libraries(verbose: bool) -> None:
    """Unless verbose: no library warnings, log chatter or progress bars (GGUF conversion)
    between results. Set before the libraries load, which the CLI's lazy imports allow."""
    if verbose:
        return
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", module=r"cf_agent(\.|$)")
    logging.getLogger().setLevel(logging.ERROR)


def figures_table(title: str, figures: Mapping[str, Any], names: Mapping[str, str]) -> Table:
    """Figures as a two-column table, each named by `names` (else by its key)."""
    table = Table(title=title, show_header=False)
    for key, value in figures.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = "n/a" if math.isnan(value) else f"{value:.3f}"
        table.add_row(names.get(key, key.replace("_", " ")), str(value))
    return table


class ProgressLog:
    """Progress as lines for a log file: one at once, then at most one per `every_s` seconds."""

    def __init__(self, console: Console, what: str, every_s: float = LOG_EVERY_S) -> None:
        self.console, self.what, self.every_s = console, what, every_s
        self.started = time.monotonic()
        self.last = -math.inf

    def update(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last < self.every_s and done != total:
            return
        self.last = now
        line = f"{self.what}: {done}" + (f"/{total}" if total else "")
        elapsed = now - self.started
        if done and total:
            each = elapsed / done
            left = _clock(each * (total - done))
            line += f" ({done / total:.0%}), {each:.1f} s each, about {left} left"
        self.console.print(f"{line} [{_clock(elapsed)} elapsed]", highlight=False)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


@contextmanager
def progress_display(console: Console, what: str) -> Iterator[Any]:
    """A bar with rate and ETA on a terminal, ProgressLog lines otherwise; yields an object
    with `update(done, total)` and `console` (to print results above the bar)."""
    if not console.is_terminal:
        yield ProgressLog(console, what)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        yield _Bar(bar, bar.add_task(what, total=None, rate=""), time.monotonic())


class _Bar:
    def __init__(self, bar: Progress, task: Any, started: float) -> None:
        self.bar, self.task, self.started = bar, task, started
        self.console = bar.console

    def update(self, done: int, total: int | None) -> None:
        elapsed = time.monotonic() - self.started
        rate = f"{elapsed / done:.1f} s each" if done else ""
        self.bar.update(self.task, completed=done, total=total, rate=rate)


@contextmanager
def stage_bars(
    console: Console, transient: bool = True
) -> Iterator[Callable[[str, int, int, str], None]]:
    """One bar per stage (a method, a study step), added at its first update; yields
    `advance(stage, done, total, description)` (an empty description shows the stage)."""
    with Progress(console=console, transient=transient) as bar:
        tasks: dict[str, TaskID] = {}

        def advance(stage: str, done: int, total: int, description: str = "") -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total, description=description or stage)

        yield advance
