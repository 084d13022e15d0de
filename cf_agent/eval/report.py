"""Write the evaluation: report.md, a self-contained report.html, rows.csv, metrics.csv, figures.

The Markdown links the PNGs in figures/; the HTML embeds them as base64 and loads nothing from
anywhere else, so it can be mailed or archived as one file. Every file is written atomically.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, Field

from cf_agent.data.spec import FeatureSpec
from cf_agent.eval.figures import change_frequency, delta_distribution, metric_bars
from cf_agent.eval.interventions import InterventionSummary, numeric_deltas
from cf_agent.eval.judge import QueryResult
from cf_agent.eval.table import Estimate, MethodSummary
from cf_agent.fileio import atomic_path, write_text_atomic

ESTIMATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("success", "success"),
    ("valid_success", "valid success"),
    ("validity", "validity"),
    ("plausibility", "plausible"),
    ("actionable", "actionable"),
    ("immutable_violations", "immutable viol./CF"),
    ("actionability_violations", "other viol./CF"),
    ("sparsity", "features changed"),
    ("l1_mad", "L1/MAD"),
    ("l2_range", "L2"),
    ("diversity", "diversity"),
    ("ynn", "yNN"),
    ("redundancy", "redundancy"),
    ("refined", "refined"),
    ("llm_calls", "LLM calls/person"),
)
FIGURES = (
    ("metrics.png", "Metrics per method (bars: mean; whiskers: 95% CI)"),
    ("change_frequency.png", "Share of returned CFs that change each feature"),
    ("deltas.png", "Changes proposed for the most changed numeric features"),
)
TOP_FEATURES = 3


class ReportInfo(BaseModel):
    """What the report says about how it was made."""

    title: str = "cf-agent evaluation"
    command: str = Field(default="", description="The command that produced it.")
    data: str = Field(description="Data file and its hash.")
    spec: str = Field(description="Spec name and hash.")
    classifier: str = Field(description="Classifier kind and test metrics.")
    queries: int = Field(description="People evaluated (the same for every method).")
    k: int = Field(description="CFs asked per person.")
    margin: float = Field(description="Probability margin of the classifier check.")
    created_at: str = Field(description="When the report was written (UTC).")


class ReportFiles(BaseModel):
    """Where write_report put things."""

    markdown: Path
    html: Path
    rows_csv: Path
    metrics_csv: Path
    figures: list[Path]


@dataclass(frozen=True)
class TextTable:
    """A table of strings that renders as Markdown or HTML."""

    headers: list[str]
    rows: list[list[str]]

    def markdown(self) -> str:
        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        return "\n".join(
            [line(self.headers), line(["---"] * len(self.headers)), *map(line, self.rows)]
        )

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def format_estimate(estimate: Estimate) -> str:
    """'0.93 [0.88, 0.97]'; the mean alone when the interval is unknown; 'n/a' without data."""
    if estimate.mean is None:
        return "n/a"
    if estimate.low is None or estimate.high is None:
        return f"{estimate.mean:.2f}"
    return f"{estimate.mean:.2f} [{estimate.low:.2f}, {estimate.high:.2f}]"


def format_mean(estimate: Estimate) -> str:
    """'0.93', or 'n/a' without data."""
    return "n/a" if estimate.mean is None else f"{estimate.mean:.2f}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def method_table(summaries: Sequence[MethodSummary]) -> TextTable:
    headers = ["method", "people", "CFs returned / asked"]
    headers += [title for _, title in ESTIMATE_COLUMNS] + ["median s/CF"]
    rows = []
    for s in summaries:
        row = [s.method, str(s.queries), f"{s.returned} / {s.requested}"]
        row += [format_estimate(getattr(s, key)) for key, _ in ESTIMATE_COLUMNS]
        seconds = s.median_seconds_per_cf
        row.append("n/a" if seconds is None else f"{seconds:.3g}")
        rows.append(row)
    return TextTable(headers, rows)


def intervention_table(interventions: Sequence[InterventionSummary]) -> TextTable:
    headers = [
        "method",
        "CFs",
        "distinct features",
        "modifiable share",
        "immutable share",
        "change entropy",
        "most changed (share, median change)",
    ]
    rows = []
    for s in interventions:
        top = "; ".join(
            f"{f.feature} {f.share:.0%} ({f.typical})" for f in s.features[:TOP_FEATURES]
        )
        entropy = "n/a" if s.change_entropy is None else f"{s.change_entropy:.2f}"
        rows.append(
            [
                s.method,
                str(s.cfs),
                str(s.distinct_features),
                _share(s.modifiable_share),
                _share(s.immutable_share),
                entropy,
                top or "none",
            ]
        )
    return TextTable(headers, rows)


def feature_table(spec: FeatureSpec, interventions: Sequence[InterventionSummary]) -> TextTable:
    """Feature by method: share of returned CFs changing it and the median change."""
    headers = ["feature", "group", *[s.method for s in interventions]]
    rows = []
    for feature in spec.features:
        cells = []
        for summary in interventions:
            change = next((f for f in summary.features if f.feature == feature.name), None)
            cells.append("" if change is None else f"{change.share:.0%} ({change.typical})")
        if any(cells):
            rows.append([feature.name, feature.group, *cells])
    return TextTable(headers, rows)


def failure_table(results_by_method: Mapping[str, Sequence[QueryResult]]) -> TextTable:
    """Why slots came back empty, per method, commonest reasons first."""
    rows = []
    for method, results in results_by_method.items():
        reasons = Counter(
            s.error or "no counterfactual" for r in results for s in r.slots if not s.returned
        )
        for reason, count in reasons.most_common(TOP_FEATURES):
            rows.append([method, str(count), reason])
    return TextTable(["method", "empty slots", "reason"], rows)


def result_rows(spec: FeatureSpec, results: Sequence[QueryResult]) -> list[dict[str, object]]:
    """One flat row per requested CF: scores, the person's values and the CF's values."""
    rows: list[dict[str, object]] = []
    for result in results:
        for slot in result.slots:
            row: dict[str, object] = {"method": result.method, "query_id": result.query_id}
            row.update(slot.model_dump(exclude={"values"}))
            row.update(
                seconds=result.seconds, llm_calls=result.llm_calls, diversity=result.diversity
            )
            row.update({f"query_{n}": result.query[n] for n in spec.feature_names})
            values = slot.values or {}
            row.update({f"cf_{n}": values.get(n) for n in spec.feature_names})
            rows.append(row)
    return rows


def metric_rows(summaries: Sequence[MethodSummary]) -> list[dict[str, object]]:
    """Long format: one row per method and metric with mean, interval and n."""
    rows: list[dict[str, object]] = []
    for s in summaries:
        for key, _ in ESTIMATE_COLUMNS:
            estimate: Estimate = getattr(s, key)
            rows.append({"method": s.method, "metric": key, **estimate.model_dump()})
        rows.append(
            {"method": s.method, "metric": "median_seconds_per_cf", "mean": s.median_seconds_per_cf}
        )
    return rows


def _write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)


def _markdown(info: ReportInfo, tables: Mapping[str, TextTable]) -> str:
    parts = [f"# {info.title}", "", *_header_lines(info), ""]
    for heading, table in tables.items():
        parts += [f"## {heading}", "", table.markdown(), ""]
    parts += ["## Figures", ""]
    parts += [f"![{caption}](figures/{name})\n" for name, caption in FIGURES]
    parts.append(
        "Definitions of every column: docs/evaluation.md. All rows: rows.csv; "
        "all estimates: metrics.csv."
    )
    return "\n".join(parts) + "\n"


def _header_lines(info: ReportInfo) -> list[str]:
    lines = [
        f"- data: {info.data}",
        f"- spec: {info.spec}",
        f"- classifier: {info.classifier}",
        f"- people: {info.queries} (the same rows for every method), CFs per person: {info.k}, "
        f"classifier margin: {info.margin:g}",
        f"- written: {info.created_at}",
    ]
    if info.command:
        lines.append(f"- command: `{info.command}`")
    return lines


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1600px;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}figure{margin:1.5em 0}img{max-width:100%}"
    "code{background:#f3f3f3;padding:1px 4px}"
)


def _html(info: ReportInfo, tables: Mapping[str, TextTable], pngs: Mapping[str, bytes]) -> str:
    items = "".join(f"<li>{html.escape(line[2:])}</li>" for line in _header_lines(info))
    sections = "".join(
        f"<h2>{html.escape(heading)}</h2>{table.html()}" for heading, table in tables.items()
    )
    figures = "".join(
        f'<figure><img alt="{html.escape(caption)}" '
        f'src="data:image/png;base64,{base64.b64encode(pngs[name]).decode("ascii")}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for name, caption in FIGURES
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(info.title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(info.title)}</h1><ul>{items}</ul>{sections}"
        f"<h2>Figures</h2>{figures}"
        "<p>Definitions of every column: docs/evaluation.md. All rows: rows.csv; "
        "all estimates: metrics.csv.</p></body></html>\n"
    )


def write_report(
    out_dir: Path,
    info: ReportInfo,
    spec: FeatureSpec,
    summaries: Sequence[MethodSummary],
    interventions: Sequence[InterventionSummary],
    results_by_method: Mapping[str, Sequence[QueryResult]],
) -> ReportFiles:
    """Figures, CSVs, report.md and report.html in out_dir."""
    deltas = {m: numeric_deltas(spec, results) for m, results in results_by_method.items()}
    pngs = {
        "metrics.png": metric_bars(summaries),
        "change_frequency.png": change_frequency(spec, interventions),
        "deltas.png": delta_distribution(spec, deltas),
    }
    figure_paths = []
    for name, data in pngs.items():
        path = out_dir / "figures" / name
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        figure_paths.append(path)
    all_results = [r for results in results_by_method.values() for r in results]
    files = ReportFiles(
        markdown=out_dir / "report.md",
        html=out_dir / "report.html",
        rows_csv=out_dir / "rows.csv",
        metrics_csv=out_dir / "metrics.csv",
        figures=figure_paths,
    )
    _write_csv(files.rows_csv, result_rows(spec, all_results))
    _write_csv(files.metrics_csv, metric_rows(summaries))
    tables = {
        "Methods": method_table(summaries),
        "Intervention quality and feature diversity": intervention_table(interventions),
        "Feature changes (share of returned CFs, median change)": feature_table(
            spec, interventions
        ),
        "Empty slots and why": failure_table(results_by_method),
    }
    write_text_atomic(files.markdown, _markdown(info, tables))
    write_text_atomic(files.html, _html(info, tables, pngs))
    return files
