"""Load a user's data file and check it against the feature spec.

Everything downstream trusts the cohort's frame, so every problem is caught here and reported in
one DataError: the file, the column and the first offending rows (row number and id), with a fix,
so a user can correct the whole file in one pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cf_agent.data.cells import (
    PARSERS,
    Problem,
    RowNamer,
    column_problems,
    domain_problems,
    parse_ids,
    parse_label,
    raise_problems,
)
from cf_agent.data.readers import READERS
from cf_agent.data.spec import FeatureSpec
from cf_agent.errors import DataError


@dataclass(frozen=True, eq=False)
class Cohort:
    """A validated data set: id, features in spec order with fixed dtypes, label, other columns.

    Ids are strings; float features are float64; int and bool features int64 (bool as 0/1);
    categorical features Python strings; the label int64.
    """

    frame: pd.DataFrame
    spec: FeatureSpec
    data_hash: str
    source: str

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def features(self) -> pd.DataFrame:
        return self.frame[self.spec.feature_names]

    @property
    def labels(self) -> pd.Series:
        return self.frame[self.spec.label]

    @property
    def ids(self) -> pd.Series:
        return self.frame[self.spec.id_column]

    def rows(self) -> list[dict[str, Any]]:
        """Feature rows as dicts of plain Python values, the form candidates take."""
        return self.features.to_dict(orient="records")

    def row(self, person_id: str) -> dict[str, Any]:
        """The feature row of one person."""
        hits = self.frame.index[self.ids == str(person_id)]
        if len(hits) == 0:
            raise DataError(
                f"no row with {self.spec.id_column} {person_id!r} in {self.source}",
                f"pass an id that appears in the {self.spec.id_column} column",
            )
        record: dict[str, Any] = self.features.loc[[hits[0]]].to_dict(orient="records")[0]
        return record


def load_cohort(path: Path | str, spec: FeatureSpec) -> Cohort:
    """Read a .csv or .parquet file and validate every cell against `spec`."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"data file {path} has extension {path.suffix or '(none)'!r}; "
            "cf-agent reads .csv and .parquet",
            "save the data as .csv or .parquet",
        )
    if not path.is_file():
        raise DataError(f"data file not found: {path}", "pass --data PATH to an existing file")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"data file {path} is empty", "write a header line and one row per person")
    frame = reader(raw, path)
    data_hash = hashlib.sha256(raw).hexdigest()[:16]
    return _validated(frame, spec, data_hash, str(path), f"data file {path}")


def cohort_from_frame(frame: pd.DataFrame, spec: FeatureSpec, source: str = "DataFrame") -> Cohort:
    """Validate an in-memory frame (a notebook's) exactly as a data file is validated.

    Its data hash is of the cells as given, so a rerun on the same frame resumes.
    """
    cells = frame.reset_index(drop=True).astype(object)
    digest = hashlib.sha256(",".join(map(str, cells.columns)).encode())
    digest.update(pd.util.hash_pandas_object(cells, index=False).to_numpy().tobytes())
    return _validated(cells, spec, digest.hexdigest()[:16], source, f"data {source}")


def _validated(
    frame: pd.DataFrame, spec: FeatureSpec, data_hash: str, source: str, name: str
) -> Cohort:
    """Every cell checked against the spec; `name` says where the data came from in errors."""
    frame.columns = [str(c).strip() for c in frame.columns]
    repeated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if repeated:
        raise DataError(
            f"{name} has more than one column named {', '.join(map(repr, repeated))}",
            "keep one column of each name (names are compared without surrounding spaces)",
        )
    if frame.empty:
        raise DataError(f"{name} has a header but no data rows", "add one row per person")
    problems = column_problems(list(frame.columns), spec)
    columns: dict[str, pd.Series] = {}
    ids = None
    if spec.id_column in frame.columns:
        ids, id_problems = parse_ids(frame[spec.id_column], spec)
        problems += id_problems
        columns[spec.id_column] = ids
    namer = RowNamer(ids, spec.id_column)
    for feature in spec.features:
        if feature.name not in frame.columns:
            continue
        raw_column = frame[feature.name]
        parsed = PARSERS[feature.kind](raw_column, feature, namer)
        problems += parsed.problems + domain_problems(parsed, raw_column, feature, namer)
        columns[feature.name] = parsed.values
    if spec.label in frame.columns:
        columns[spec.label], label_problems = parse_label(frame[spec.label], spec, namer)
        problems += label_problems
    raise_problems(problems, f"{name} (rows numbered from 1 after the header)")
    for other in spec.other_columns:
        if other in frame.columns:
            columns[other] = frame[other]
    return Cohort(frame=pd.DataFrame(columns), spec=spec, data_hash=data_hash, source=source)


def frame_from_rows(rows: Sequence[Mapping[str, Any]], spec: FeatureSpec) -> pd.DataFrame:
    """Feature frame (spec order, cohort dtypes) from dict rows such as candidate counterfactuals.

    Only types are checked: a value outside its range or categories is kept, because judging
    that is the plausibility verifier's job.
    """
    names = spec.feature_names
    problems = [
        Problem(
            f"row {i + 1} lacks {', '.join(map(repr, absent))}",
            "give every feature of the spec a value",
        )
        for i, row in enumerate(rows)
        if (absent := [n for n in names if n not in row])
    ]
    raise_problems(problems, "candidate rows (numbered from 1)")
    raw = pd.DataFrame([[row[n] for n in names] for row in rows], columns=names, dtype=object)
    namer = RowNamer(None, spec.id_column)
    columns: dict[str, pd.Series] = {}
    for feature in spec.features:
        parsed = PARSERS[feature.kind](raw[feature.name], feature, namer)
        problems += parsed.problems
        columns[feature.name] = parsed.values
    raise_problems(problems, "candidate rows (numbered from 1)")
    return pd.DataFrame(columns, columns=names)
