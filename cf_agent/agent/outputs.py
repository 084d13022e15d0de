"""Write run results as JSONL (full records), or CSV / Parquet (one row per counterfactual).

JSONL and CSV are written as the records stream past, in chunks, so memory stays flat in the
number of rows; Parquet, a columnar format, builds its table once at the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd

from cf_agent.data.spec import FeatureSpec
from cf_agent.errors import OutputError
from cf_agent.fileio import atomic_path
from cf_agent.tools.verdict import VERIFIER_NAMES

OUTPUT_SUFFIXES = (".jsonl", ".csv", ".parquet")
CHUNK_RECORDS = 1000


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


def _chunks(records: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, CHUNK_RECORDS)):
        yield chunk


def _write_csv(spec: FeatureSpec, records: Iterable[dict[str, Any]], tmp: Path) -> None:
    """CSV in chunks; the columns are the union seen so far, fixed by the first chunk."""
    columns: list[str] | None = None
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        for chunk in _chunks(records):
            frame = pd.DataFrame(flat_rows(spec, chunk))
            if columns is None:
                columns = flat_columns(spec, frame.columns)
            frame.reindex(columns=columns).to_csv(handle, index=False, header=handle.tell() == 0)
        if columns is None:
            handle.write(",".join(flat_columns(spec, [])) + "\n")


def flat_columns(spec: FeatureSpec, seen: Iterable[str]) -> list[str]:
    """Every column a flat row may have, in a stable order (CSV chunks share one header)."""
    base = ["query_id", "status", "rounds", "llm_calls", "seconds", "cf_index", "source"]
    base += ["changes", "refined_features"]
    scores = [f"{check}_score" for check in VERIFIER_NAMES]
    scores += sorted(c for c in seen if c.endswith("_score") and c not in scores)
    return base + scores + [f"cf_{name}" for name in spec.feature_names]


def write_results(spec: FeatureSpec, records: Iterable[dict[str, Any]], path: Path) -> None:
    check_output_path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".jsonl":
            with tmp.open("w", encoding="utf-8") as handle:
                for record in records:
                    handle.write(json.dumps(record, allow_nan=False) + "\n")
        elif path.suffix == ".csv":
            _write_csv(spec, records, tmp)
        else:
            pd.DataFrame(flat_rows(spec, records)).to_parquet(tmp, index=False)
