"""Write run results as JSONL (full records), or CSV / Parquet (one row per counterfactual)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from cf_agent.data.spec import FeatureSpec
from cf_agent.errors import OutputError
from cf_agent.fileio import atomic_path

OUTPUT_SUFFIXES = (".jsonl", ".csv", ".parquet")


def check_output_path(path: Path) -> None:
    if path.suffix not in OUTPUT_SUFFIXES:
        raise OutputError(
            f"cannot tell the output format of {path}",
            f"end the file name with one of {', '.join(OUTPUT_SUFFIXES)}",
        )


def flat_rows(spec: FeatureSpec, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per accepted CF; a query with none still gets one row saying so."""
    rows = []
    for rec in records:
        base = {
            "query_id": rec["query_id"],
            "status": rec["status"],
            "rounds": rec["rounds"],
            "llm_calls": rec["llm_calls"],
            "seconds": rec["seconds"],
        }
        if not rec["counterfactuals"]:
            rows.append({**base, "cf_index": None, "source": None, "changes": ""})
            continue
        for i, cf in enumerate(rec["counterfactuals"]):
            row = {
                **base,
                "cf_index": i,
                "source": cf["source"],
                "changes": "; ".join(c["text"] for c in cf["changes"].values()),
                "refined_features": ",".join(
                    n for n, p in cf["provenance"].items() if p == "refine"
                ),
            }
            for check, verdict in cf["verdicts"].items():
                row[f"{check}_score"] = verdict["score"]
            for name in spec.feature_names:
                row[f"cf_{name}"] = cf["values"][name]
            rows.append(row)
    return rows


def write_results(spec: FeatureSpec, records: list[dict[str, Any]], path: Path) -> None:
    check_output_path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".jsonl":
            tmp.write_text(
                "".join(json.dumps(r, allow_nan=False) + "\n" for r in records), encoding="utf-8"
            )
        else:
            frame = pd.DataFrame(flat_rows(spec, records))
            if path.suffix == ".csv":
                frame.to_csv(tmp, index=False)
            else:
                frame.to_parquet(tmp, index=False)
