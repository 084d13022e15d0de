"""Export a run's accepted CFs, with the reviewers' decisions, to CSV or Parquet.

A CF is exported unless a reviewer's latest decision on it is a rejection: CFs a reviewer
accepted (edited ones included) are marked `accepted`, the agent's others `unreviewed`
(left out with `reviewed_only`). One row per CF: who decided and when, the changes in words,
the verifier scores, then the factual (`factual_<feature>`) and CF (`cf_<feature>`) values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from cf_agent.agent.records import changes
from cf_agent.audit.store import AuditStore
from cf_agent.errors import OutputError
from cf_agent.fileio import atomic_path
from cf_agent.review.history import QueryHistory, RunHistory, load_run_history, values_key
from cf_agent.review.materials import RunMaterials
from cf_agent.tools.verdict import Verdict

EXPORT_SUFFIXES = (".csv", ".parquet")
BASE_COLUMNS = ("run_id", "query_id", "review", "reviewer", "reviewed_at", "source", "changes")


class ExportResult(BaseModel):
    """What an export wrote."""

    path: Path = Field(description="The file written.")
    rows: int = Field(description="CFs exported.")
    reviewed: int = Field(description="Of those, CFs a reviewer accepted.")


class _Exported(BaseModel):
    values: dict[str, Any]
    source: str
    verdicts: list[Verdict]
    review: str
    reviewer: str = ""
    reviewed_at: str = ""


def _exported_cfs(query: QueryHistory, reviewed_only: bool) -> list[_Exported]:
    """The query's CFs that are not rejected: the agent's, then reviewer-accepted edits."""
    candidates: dict[str, _Exported] = {}
    for agent_cf in query.counterfactuals:
        candidates[agent_cf.key] = _Exported(
            values=agent_cf.values,
            source=agent_cf.source,
            verdicts=agent_cf.verdicts,
            review="unreviewed",
        )
    for decided in query.verdict_decisions:
        if decided.values is not None and values_key(decided.values) not in candidates:
            candidates[values_key(decided.values)] = _Exported(
                values=decided.values,
                source=decided.source or "",
                verdicts=decided.verdicts,
                review="unreviewed",
            )
    kept = []
    for cf in candidates.values():
        latest = query.review_of(cf.values)
        if latest is not None and latest.action == "reject":
            continue
        if latest is not None:
            cf = cf.model_copy(
                update={
                    "review": "accepted",
                    "reviewer": latest.reviewer,
                    "reviewed_at": latest.ts,
                    "verdicts": latest.verdicts or cf.verdicts,
                }
            )
        if reviewed_only and cf.review != "accepted":
            continue
        kept.append(cf)
    return kept


def accepted_rows(
    history: RunHistory, materials: RunMaterials, reviewed_only: bool = False
) -> list[dict[str, Any]]:
    """One flat row per exported CF; factual values from the data file or the logged prompt."""
    spec = materials.spec
    rows = []
    for query in history.queries.values():
        exported = _exported_cfs(query, reviewed_only)
        if not exported:
            continue
        factual, _ = materials.factual(query)
        for cf in exported:
            described = changes(spec, factual, cf.values)
            row: dict[str, Any] = {
                "run_id": history.run.run_id,
                "query_id": query.query_id,
                "review": cf.review,
                "reviewer": cf.reviewer,
                "reviewed_at": cf.reviewed_at,
                "source": cf.source,
                "changes": "; ".join(c["text"] for c in described.values()),
            }
            for verdict in cf.verdicts:
                row[f"{verdict.check}_passed"] = verdict.passed
                row[f"{verdict.check}_score"] = verdict.score
            for name in spec.feature_names:
                row[f"factual_{name}"] = factual.get(name)
            for name in spec.feature_names:
                row[f"cf_{name}"] = cf.values.get(name)
            rows.append(row)
    return rows


def _empty_columns(materials: RunMaterials) -> list[str]:
    names = materials.spec.feature_names
    return [*BASE_COLUMNS, *(f"factual_{n}" for n in names), *(f"cf_{n}" for n in names)]


def export_accepted_cfs(
    store: AuditStore, run_id: str, out: Path | str, reviewed_only: bool = False
) -> ExportResult:
    """Write the run's accepted CFs to `out` (.csv or .parquet), atomically."""
    target = Path(out)
    if target.suffix.lower() not in EXPORT_SUFFIXES:
        raise OutputError(
            f"cannot export CFs to {target}: unknown format {target.suffix or '(none)'}",
            "name the output file *.csv or *.parquet",
        )
    history = load_run_history(store, run_id)
    materials = RunMaterials(history.run, store.path.parent)
    rows = accepted_rows(history, materials, reviewed_only)
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=_empty_columns(materials))
    with atomic_path(target) as tmp:
        if target.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return ExportResult(
        path=target, rows=len(rows), reviewed=sum(r["review"] == "accepted" for r in rows)
    )
