"""Write the study: report.md (tables + figure), results.csv, summary.csv, generated.csv, figure.

Every file is written atomically; the figure is drawn with matplotlib's object API (no pyplot).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from pydantic import BaseModel

from cf_agent.augment.generate import GeneratedRow
from cf_agent.eval.report import TextTable
from cf_agent.fileio import atomic_path, write_text_atomic

FIGURE_NAME = "f1_by_scenario.png"


class StudyFiles(BaseModel):
    """Where the study's outputs are."""

    markdown: Path
    results_csv: Path
    summary_csv: Path
    generated_csv: Path
    figure: Path


def _mean_sd(mean: float, sd: float, percent: bool = False) -> str:
    if math.isnan(mean):
        return "n/a"
    scale, fmt = (100.0, "{:.0f}%") if percent else (1.0, "{:.3f}")
    text = fmt.format(mean * scale)
    if not math.isnan(sd):
        text += " ± " + fmt.format(sd * scale)
    return text


def summary_table(summary: pd.DataFrame) -> TextTable:
    headers = [
        "kept",
        "arm",
        "seeds",
        "rows added",
        "F1 (minority)",
        "ROC-AUC",
        "balanced acc.",
        "F1 recovery",
        "relative F1 gain",
    ]
    rows = []
    for r in summary.to_dict(orient="records"):
        rows.append(
            [
                f"{r['keep']:.0%}",
                str(r["arm"]),
                str(r["seeds"]),
                f"{r['rows_added']:.1f}",
                _mean_sd(r["f1_minority_mean"], r["f1_minority_sd"]),
                _mean_sd(r["roc_auc_mean"], r["roc_auc_sd"]),
                _mean_sd(r["balanced_accuracy_mean"], r["balanced_accuracy_sd"]),
                _mean_sd(r["f1_recovery_mean"], r["f1_recovery_sd"], percent=True),
                _mean_sd(r["relative_f1_gain_mean"], r["relative_f1_gain_sd"], percent=True),
            ]
        )
    return TextTable(headers, rows)


def average_table(average: pd.DataFrame) -> TextTable:
    def pct(value: float) -> str:
        return "n/a" if math.isnan(value) else f"{value:.0%}"

    rows = [
        [
            str(r["arm"]),
            str(r["scenarios"]),
            f"{r['f1_minority']:.3f}",
            pct(r["f1_recovery"]),
            pct(r["relative_f1_gain"]),
        ]
        for r in average.to_dict(orient="records")
    ]
    headers = ["arm", "scenarios", "mean F1", "mean F1 recovery", "mean relative F1 gain"]
    return TextTable(headers, rows)


def generation_table(generated: Sequence[GeneratedRow], targets: dict[str, int]) -> TextTable:
    """Per CF method: sources asked, CFs returned, valid, plausible, used (summed over units)."""
    rows = []
    for method, asked in targets.items():
        mine = [g for g in generated if g.method == method]
        valid = [g for g in mine if g.classifier_passed and g.actionability_passed]
        rows.append(
            [
                method,
                str(asked),
                str(len(mine)),
                str(len(valid)),
                str(sum(g.plausibility_passed for g in valid)),
                str(sum(g.used for g in mine)),
                str(sum(g.source == "refine" for g in mine if g.used)),
            ]
        )
    headers = ["method", "sources", "CFs returned", "valid", "valid + plausible", "used"]
    return TextTable([*headers, "used from refinement"], rows)


def f1_figure(summary: pd.DataFrame, scenarios: Sequence[str], arms: Sequence[str]) -> bytes:
    """Grouped bars: test F1 of the minority class per scenario and arm, whiskers = sd."""
    present = [a for a in arms if (summary["arm"] == a).any()]
    figure = Figure(
        figsize=(2.2 + 1.1 * len(scenarios) * max(1, len(present)) / 3, 3.6), layout="constrained"
    )
    ax = figure.subplots()
    width = 0.8 / max(1, len(present))
    cmap = colormaps["tab10"]
    for j, arm in enumerate(present):
        part = summary[summary["arm"] == arm].set_index("scenario").reindex(scenarios)
        means = part["f1_minority_mean"].to_numpy(dtype=float)
        errors = np.nan_to_num(part["f1_minority_sd"].to_numpy(dtype=float))
        positions = np.arange(len(scenarios)) - 0.4 + width * (j + 0.5)
        ax.bar(
            positions,
            np.nan_to_num(means),
            width,
            yerr=errors,
            capsize=2,
            color=cmap(j % 10),
            label=arm,
        )
    labels = [f"{summary[summary['scenario'] == s]['keep'].iloc[0]:.0%} kept" for s in scenarios]
    ax.set_xticks(range(len(scenarios)), labels)
    ax.set_ylabel("test F1 (minority class)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def generated_frame(
    generated: Sequence[GeneratedRow], feature_names: Sequence[str]
) -> pd.DataFrame:
    """One row per generated CF: provenance and verdict flags, then the feature values."""
    records = []
    for g in generated:
        record = g.model_dump(exclude={"values"})
        record.update({name: g.values.get(name) for name in feature_names})
        records.append(record)
    columns = [c for c in GeneratedRow.model_fields if c != "values"] + list(feature_names)
    return pd.DataFrame(records, columns=columns)


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_study(
    out: Path,
    header: Sequence[str],
    seeded: pd.DataFrame,
    summary: pd.DataFrame,
    average: pd.DataFrame,
    generated: Sequence[GeneratedRow],
    targets: dict[str, int],
    feature_names: Sequence[str],
    scenarios: Sequence[str],
    arms: Sequence[str],
) -> StudyFiles:
    files = StudyFiles(
        markdown=out / "report.md",
        results_csv=out / "results.csv",
        summary_csv=out / "summary.csv",
        generated_csv=out / "generated.csv",
        figure=out / "figures" / FIGURE_NAME,
    )
    _write_csv(files.results_csv, seeded)
    _write_csv(files.summary_csv, summary)
    _write_csv(files.generated_csv, generated_frame(generated, feature_names))
    with atomic_path(files.figure) as tmp:
        tmp.write_bytes(f1_figure(summary, scenarios, arms))
    parts = ["# cf-agent augmentation study", "", *header, ""]
    parts += ["## Test scores per scenario and arm (mean ± sd over seeds)", ""]
    parts += [summary_table(summary).markdown(), ""]
    parts += ["## Averaged over scenarios", "", average_table(average).markdown(), ""]
    if targets:
        parts += ["## Generated counterfactuals (all scenarios and seeds)", ""]
        parts += [generation_table(generated, targets).markdown(), ""]
    parts += [f"![Test F1 by scenario and arm](figures/{FIGURE_NAME})", ""]
    parts.append(
        "Per seed: results.csv; generated rows with provenance: generated.csv; "
        "definitions: docs/augmentation.md."
    )
    write_text_atomic(files.markdown, "\n".join(parts) + "\n")
    return files
