"""The report files: all written, figures real PNGs, the HTML one self-contained file."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pandas as pd

from cf_agent.data.demo import demo_spec, generate_demo_cohort
from cf_agent.eval.interventions import summarize_interventions
from cf_agent.eval.judge import QueryResult, SlotResult
from cf_agent.eval.report import ReportInfo, TextTable, format_estimate, write_report
from cf_agent.eval.table import Estimate, summarize_method

SPEC = demo_spec("glucose")
PNG = b"\x89PNG\r\n\x1a\n"


def people(n: int) -> list[dict[str, Any]]:
    frame = generate_demo_cohort(50, seed=0)[SPEC.feature_names].head(n)
    return [
        {k: v.item() if hasattr(v, "item") else v for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def results(method: str, walk: bool) -> list[QueryResult]:
    out = []
    for i, query in enumerate(people(3)):
        cf = {**query, "steps": query["steps"] + 1000 * (i + 1)} if walk else None
        slot = (
            SlotResult(
                cf_index=0,
                returned=True,
                values=cf,
                source=method,
                valid=True,
                actionable=True,
                plausible=i != 0,
                verified=i != 0,
                n_changed=1,
                l1_mad=0.5 * (i + 1),
                l2_range=0.1,
                ynn=1.0,
                redundancy=0,
                immutable_violations=0,
                actionability_violations=0,
                changes=f"steps +{1000 * (i + 1)} steps/day",
            )
            if cf is not None
            else SlotResult(
                cf_index=0, returned=False, error="b found no counterfactual", source=method
            )
        )
        out.append(
            QueryResult(method=method, query_id=f"P{i}", query=query, seconds=0.5, slots=[slot])
        )
    return out


def write(tmp_path: Path) -> Any:
    by_method = {"walker": results("walker", True), "b": results("b", False)}
    summaries = [summarize_method(m, r, is_llm=False) for m, r in by_method.items()]
    interventions = [summarize_interventions(SPEC, m, r) for m, r in by_method.items()]
    info = ReportInfo(
        data="demo.csv",
        spec="demo-glucose",
        classifier="logreg",
        queries=3,
        k=1,
        margin=0.0,
        created_at="2026-01-01 00:00 UTC",
        command="cf-agent eval --methods walker,b",
    )
    return write_report(tmp_path, info, SPEC, summaries, interventions, by_method)


def test_every_file_is_written_and_nothing_half_written_is_left(tmp_path: Path) -> None:
    files = write(tmp_path)
    for path in (files.markdown, files.html, files.rows_csv, files.metrics_csv, *files.figures):
        assert path.is_file() and path.stat().st_size > 0
    assert [p.name for p in files.figures] == ["metrics.png", "change_frequency.png", "deltas.png"]
    assert all(p.read_bytes().startswith(PNG) for p in files.figures)
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_html_is_self_contained_with_embedded_pngs(tmp_path: Path) -> None:
    page = write(tmp_path).html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3 and all(base64.b64decode(i).startswith(PNG) for i in images)
    assert not re.search(r"<script|<link|href=|url\(|src=\"(?!data:)", page)
    assert "walker" in page and "steps 100% (+2,000 steps/day)" in page


def test_markdown_holds_the_tables_and_links_existing_figures(tmp_path: Path) -> None:
    files = write(tmp_path)
    text = files.markdown.read_text(encoding="utf-8")
    assert "| method | people | CFs returned / asked | success |" in text
    assert "`cf-agent eval --methods walker,b`" in text
    assert "| b | 3 | b found no counterfactual |" in text  # empty slots and why
    for link in re.findall(r"\]\((figures/[^)]+)\)", text):
        assert (tmp_path / link).is_file()


def test_csvs_hold_every_requested_cf_and_every_estimate(tmp_path: Path) -> None:
    files = write(tmp_path)
    rows = pd.read_csv(files.rows_csv)
    assert len(rows) == 6 and set(rows["method"]) == {"walker", "b"}
    walker = rows[rows["method"] == "walker"]
    assert list(walker["cf_steps"] - walker["query_steps"]) == [1000, 2000, 3000]
    assert rows.loc[rows["method"] == "b", "cf_steps"].isna().all()
    metrics = pd.read_csv(files.metrics_csv)
    success = metrics[(metrics["method"] == "walker") & (metrics["metric"] == "success")]
    assert success["mean"].item() == 2 / 3 and success["n"].item() == 3


def test_cells_are_escaped_and_estimates_formatted() -> None:
    table = TextTable(["a|b", "<c>"], [["x|y", "<script>"]])
    assert "a\\|b" in table.markdown() and "x\\|y" in table.markdown()
    assert "&lt;script&gt;" in table.html() and "<script>" not in table.html()
    assert format_estimate(Estimate(mean=0.5, low=0.4, high=0.6, n=9)) == "0.50 [0.40, 0.60]"
    assert format_estimate(Estimate(mean=0.5, n=1)) == "0.50"
    assert format_estimate(Estimate()) == "n/a"
