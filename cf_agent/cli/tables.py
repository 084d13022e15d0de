"""The tables the study commands print: built from a service's outcome, nothing computed here."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.table import Table

from cf_agent.cli.display import figures_table

if TYPE_CHECKING:
    from cf_agent.augment import AugmentOptions, AugmentOutcome
    from cf_agent.eval import EvalOutcome
    from cf_agent.finetune.service import FinetuneOutcome


METHOD_WIDTH = 32  # characters of the method column before it folds


def eval_table(outcome: EvalOutcome, k: int) -> Table:
    """One row per method: the means of the evaluation's figures (CIs are in the report)."""
    from cf_agent.eval.report import format_mean

    columns = ("success", "validity", "plausible", "actionable", "changed", "L1/MAD", "yNN")
    table = Table(
        "method",
        *columns,
        "s/CF",
        "LLM calls",
        title=f"means over {outcome.summaries[0].queries} people, k = {k} (95% CIs: report)",
    )
    # A long method (an hf: path with an adapter) folds over lines instead of squeezing
    # every figure's column to nothing.
    table.columns[0].overflow, table.columns[0].max_width = "fold", METHOD_WIDTH
    for s in outcome.summaries:
        seconds = s.median_seconds_per_cf
        estimates = (s.success, s.validity, s.plausibility, s.actionable, s.sparsity, s.l1_mad)
        table.add_row(
            s.method,
            *(format_mean(e) for e in (*estimates, s.ynn)),
            "n/a" if seconds is None else f"{seconds:.3g}",
            format_mean(s.llm_calls),
        )
    return table


def augment_table(outcome: AugmentOutcome, options: AugmentOptions) -> Table:
    """One row per classifier, rows added and arm: mean F1, its recovery, wins over SMOTE."""
    table = Table("classifier", "rows", "arm", "mean F1", "F1 recovery", "beats SMOTE")
    table.columns[2].min_width = max((len(row["arm"]) for row in outcome.average), default=3)
    for row in outcome.average:
        recovery = row["f1_recovery"]
        table.add_row(
            row["kind"],
            str(row["rows"]),
            row["arm"],
            f"{row['f1_minority']:.3f}",
            "n/a" if math.isnan(recovery) else f"{recovery:.0%}",
            f"{row['beats_smote']}/{row['compared']}" if row["compared"] else "",
        )
    table.title = f"averaged over {len(options.keep)} scenarios, {options.seeds} seeds"
    return table


def adapter_table(outcome: FinetuneOutcome) -> Table:
    """What the adapter card says about the training run."""
    card = outcome.card
    return figures_table(
        f"adapter {outcome.out}",
        {
            "train examples": card.examples["train"],
            "validation examples": card.examples["val"],
            "train loss (last 10 steps)": card.training.train_loss_last,
            "validation loss before": card.training.val_loss_before or math.nan,
            "validation loss after": card.training.val_loss_after or math.nan,
            "seconds per step": card.training.seconds_per_step,
        },
        {},
    )
