"""Write the study: report.md (tables + figure), results.csv, summary.csv, generated.csv, figure.

The figure is the count sweep: test F1 against rows added, per classifier kind and scenario.

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

from cf_agent.agent.state import is_llm_source
from cf_agent.augment.arms import ARM_FULL, ARM_SCARCE
from cf_agent.augment.generate import GeneratedRow
from cf_agent.augment.options import StudyFiles
from cf_agent.eval.report import TextTable
from cf_agent.fileio import atomic_path, write_text_atomic

FIGURE_NAME = "f1_by_rows_added.png"


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0%}"


def _with_ci(mean: float, ci: float, percent: bool = False) -> str:
    if math.isnan(mean):
        return "n/a"
    scale, fmt = (100.0, "{:.0f}%") if percent else (1.0, "{:.3f}")
    text = fmt.format(mean * scale)
    if not math.isnan(ci):
        text += " ± " + fmt.format(ci * scale)
    return text


def _p(value: float) -> str:
    if math.isnan(value):
        return ""
    return " (p<.001)" if value < 0.001 else f" (p={value:.3f})"


def classifier_table(summary: pd.DataFrame, average: pd.DataFrame) -> TextTable:
    """Per kind, rows added and arm: F1 recovery per scenario (mean ± 95% CI over seeds; for
    non-SMOTE arms the paired p against SMOTE), its mean over scenarios, and in how many
    scenarios the arm's mean F1 beats SMOTE's."""
    added = summary[~summary["arm"].isin([ARM_SCARCE, ARM_FULL])]
    scenarios = list(dict.fromkeys(added["scenario"]))
    keeps = dict(zip(added["scenario"], added["keep"], strict=True))
    overall = average.set_index(["kind", "rows", "arm"])
    rows = []
    for (kind, count, arm), part in added.groupby(["kind", "rows", "arm"], sort=False):
        by_scenario = part.set_index("scenario")
        cells = []
        for scenario in scenarios:
            if scenario not in by_scenario.index:
                cells.append("")
                continue
            r = by_scenario.loc[scenario]
            cells.append(
                _with_ci(r["f1_recovery_mean"], r["f1_recovery_ci"], percent=True)
                + _p(r["p_vs_smote"])
            )
        mean = overall.loc[(kind, count, arm)]
        compared = int(mean["compared"])
        beats = f"{int(mean['beats_smote'])}/{compared}" if compared else ""
        rows.append(
            [
                str(kind),
                str(count),
                str(arm),
                f"{part['rows_added'].mean():.0f}",
                *cells,
                _pct(mean["f1_recovery"]),
                beats,
            ]
        )
    headers = [
        "classifier",
        "rows",
        "arm",
        "rows added",
        *(f"recovery, {keeps[s]:.0%} kept" for s in scenarios),
        "mean recovery",
        "beats SMOTE",
    ]
    return TextTable(headers, rows)


def reference_table(summary: pd.DataFrame) -> TextTable:
    """Per kind and scenario: test F1 of the scarce arm and the full-data ceiling."""
    rows = []
    for (kind, _), part in summary.groupby(["kind", "scenario"], sort=False):
        arms = part.set_index("arm")
        scarce, full = arms.loc[ARM_SCARCE], arms.loc[ARM_FULL]
        rows.append(
            [
                str(kind),
                f"{scarce['keep']:.0%}",
                _with_ci(scarce["f1_minority_mean"], scarce["f1_minority_ci"]),
                _with_ci(full["f1_minority_mean"], full["f1_minority_ci"]),
                _with_ci(scarce["roc_auc_mean"], scarce["roc_auc_ci"]),
            ]
        )
    headers = ["classifier", "kept", "F1 scarce", "F1 full", "ROC-AUC scarce"]
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
                str(sum(not is_llm_source(g.source) for g in mine if g.used)),
            ]
        )
    headers = ["method", "sources", "CFs returned", "valid", "valid + plausible", "used"]
    return TextTable([*headers, "used from the search (refine/search)"], rows)


def sweep_figure(summary: pd.DataFrame) -> bytes:
    """Test F1 against rows added, one panel per classifier kind (rows) and scenario (columns),
    one line per arm with 95% CI whiskers; dashed: scarce, dotted: full data."""
    kinds = list(dict.fromkeys(summary["kind"]))
    scenarios = list(dict.fromkeys(summary["scenario"]))
    added = summary[~summary["arm"].isin([ARM_SCARCE, ARM_FULL])]
    arms = list(dict.fromkeys(added["arm"]))
    figure = Figure(
        figsize=(1.2 + 3.0 * len(scenarios), 0.6 + 2.4 * len(kinds)), layout="constrained"
    )
    axes = np.atleast_2d(figure.subplots(len(kinds), len(scenarios), squeeze=False))
    cmap = colormaps["tab10"]
    for i, kind in enumerate(kinds):
        for j, scenario in enumerate(scenarios):
            ax = axes[i, j]
            part = summary[(summary["kind"] == kind) & (summary["scenario"] == scenario)]
            for k, arm in enumerate(arms):
                line = part[part["arm"] == arm].sort_values("rows_added")
                ax.errorbar(
                    line["rows_added"],
                    line["f1_minority_mean"],
                    yerr=np.nan_to_num(line["f1_minority_ci"].to_numpy(dtype=float)),
                    marker="o",
                    markersize=3,
                    capsize=2,
                    color=cmap(k % 10),
                    label=arm,
                )
            for arm, style in ((ARM_SCARCE, "--"), (ARM_FULL, ":")):
                level = part[part["arm"] == arm]["f1_minority_mean"]
                if len(level):
                    ax.axhline(float(level.iloc[0]), color="grey", linestyle=style, label=arm)
            ax.set_xscale("symlog", linthresh=10)
            ticks = _spread(sorted({round(v) for v in part[part["arm"].isin(arms)]["rows_added"]}))
            ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=8)
            if ticks:  # symlog's autoscale keeps its linear band near 0: a third of the width
                ax.set_xlim(ticks[0] / 1.5, ticks[-1] * 1.3)
            ax.minorticks_off()
            keep = float(part["keep"].iloc[0]) if len(part) else math.nan
            ax.set_title(f"{kind}, {keep:.0%} kept", fontsize=9)
            if i == len(kinds) - 1:
                ax.set_xlabel("rows added")
            if j == 0:
                ax.set_ylabel("test F1 (minority)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right upper", fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
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
        tmp.write_bytes(sweep_figure(summary))
    parts = ["# cf-agent augmentation study", "", *header, ""]
    parts += [
        "## F1 recovery per classifier kind (mean ± 95% CI over seeds; p: paired t test of "
        "F1 against SMOTE with as many rows)",
        "",
        classifier_table(summary, average).markdown(),
        "",
        "## Test F1 without augmentation and with all labels (mean ± 95% CI)",
        "",
        reference_table(summary).markdown(),
        "",
    ]
    if targets:
        parts += ["## Generated counterfactuals (all scenarios and seeds)", ""]
        parts += [generation_table(generated, targets).markdown(), ""]
    parts += [f"![Test F1 against rows added](figures/{FIGURE_NAME})", ""]
    parts.append(
        "Per seed: results.csv; means, CIs and p values: summary.csv; generated rows with "
        "provenance: generated.csv; definitions: docs/augmentation.md."
    )
    write_text_atomic(files.markdown, "\n".join(parts) + "\n")
    return files


def _spread(ticks: list[int], min_decades: float = 0.2) -> list[int]:
    """The ticks left once each lies at least `min_decades` left of the next one kept, the
    largest kept: arms that ran short of a count add nearby numbers of rows (631, 675, 815),
    whose labels would collide."""
    kept: list[int] = []
    for tick in reversed(ticks):
        if not kept or math.log10(max(kept[-1], 1)) - math.log10(max(tick, 1)) >= min_decades:
            kept.append(tick)
    return kept[::-1]
