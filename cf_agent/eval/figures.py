"""The report's figures as PNG bytes: metric bars with intervals, change frequency, deltas.

matplotlib's object API (Figure, no pyplot), so no global backend or window is involved.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from cf_agent.data.spec import FeatureSpec
from cf_agent.eval.interventions import InterventionSummary
from cf_agent.eval.table import Estimate, MethodSummary

BAR_METRICS: tuple[tuple[str, str], ...] = (
    ("success", "success (verified)"),
    ("validity", "validity"),
    ("plausibility", "plausibility rate"),
    ("actionable", "actionable CFs"),
    ("sparsity", "features changed"),
    ("l1_mad", "L1 / MAD"),
    ("ynn", "yNN"),
    ("diversity", "diversity (k > 1)"),
)
MAX_DELTA_FEATURES = 6


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _colours(n: int) -> list[tuple[float, float, float, float]]:
    """One tab10 colour per method, the same in every figure."""
    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _interval(estimate: Estimate) -> tuple[float, float]:
    """Distances from the mean to the interval's ends (0 where unknown)."""
    if estimate.mean is None or estimate.low is None or estimate.high is None:
        return 0.0, 0.0
    return estimate.mean - estimate.low, estimate.high - estimate.mean


def metric_bars(summaries: Sequence[MethodSummary]) -> bytes:
    """One panel per metric: a bar per method with its 95% interval."""
    shown = [
        (key, title)
        for key, title in BAR_METRICS
        if any(getattr(s, key).mean is not None for s in summaries)
    ]
    columns = 4
    rows = max(1, -(-len(shown) // columns))
    figure = Figure(figsize=(3.2 * columns, 2.8 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    names = [s.method for s in summaries]
    colours = _colours(len(names))
    for ax, (key, title) in zip(axes, shown, strict=False):
        estimates: list[Estimate] = [getattr(s, key) for s in summaries]
        means = [e.mean if e.mean is not None else 0.0 for e in estimates]
        errors = np.array([_interval(e) for e in estimates]).T
        ax.bar(range(len(names)), means, yerr=errors, color=colours, capsize=3)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    return _png(figure)


def change_frequency(spec: FeatureSpec, interventions: Sequence[InterventionSummary]) -> bytes:
    """Heat map: share of each method's returned CFs that change each feature."""
    names = spec.feature_names
    shares = np.zeros((len(names), len(interventions)))
    for j, summary in enumerate(interventions):
        for change in summary.features:
            shares[names.index(change.feature), j] = change.share
    figure = Figure(
        figsize=(1.3 * len(interventions) + 3.0, 0.32 * len(names) + 1.5), layout="constrained"
    )
    ax = figure.subplots()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xticks(
        range(len(interventions)),
        [s.method for s in interventions],
        rotation=40,
        ha="right",
        fontsize=8,
    )
    for i in range(len(names)):
        for j in range(len(interventions)):
            if shares[i, j] > 0:
                colour = "white" if shares[i, j] > 0.6 else "black"
                ax.text(
                    j, i, f"{shares[i, j]:.0%}", ha="center", va="center", fontsize=7, color=colour
                )
    figure.colorbar(image, ax=ax, label="share of returned CFs changing it")
    return _png(figure)


def delta_distribution(
    spec: FeatureSpec, deltas_by_method: Mapping[str, Mapping[str, Sequence[float]]]
) -> bytes:
    """Box plots of the changes, in the feature's unit, for the most changed numeric features."""
    methods = list(deltas_by_method)
    totals = {
        f.name: sum(len(deltas_by_method[m].get(f.name, ())) for m in methods)
        for f in spec.features
        if f.kind != "categorical"
    }
    top = [name for name, n in sorted(totals.items(), key=lambda item: -item[1]) if n][
        :MAX_DELTA_FEATURES
    ]
    columns = 3
    rows = max(1, -(-len(top) // columns))
    figure = Figure(figsize=(4.0 * columns, 3.0 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    colours = _colours(len(methods))
    for ax, name in zip(axes, top, strict=False):
        positions = [i for i, m in enumerate(methods) if deltas_by_method[m].get(name)]
        boxes = ax.boxplot(
            [list(deltas_by_method[methods[i]][name]) for i in positions],
            positions=positions,
            patch_artist=True,
            widths=0.6,
            medianprops={"color": "black"},
        )
        for patch, i in zip(boxes["boxes"], positions, strict=True):
            patch.set_facecolor(colours[i])
        ax.axhline(0.0, color="grey", linewidth=0.8)
        unit = spec.feature(name).unit
        ax.set_title(name, fontsize=10)
        ax.set_ylabel(f"change ({unit})" if unit else "change", fontsize=8)
        ax.set_xticks(range(len(methods)), methods, rotation=40, ha="right", fontsize=8)
        ax.set_xlim(-0.6, len(methods) - 0.4)
        ax.tick_params(axis="y", labelsize=8)
    for ax in axes[len(top) :]:
        ax.set_visible(False)
    if not top:
        axes[0].set_visible(True)
        axes[0].text(0.5, 0.5, "no numeric feature changed", ha="center", va="center")
        axes[0].set_axis_off()
    return _png(figure)
