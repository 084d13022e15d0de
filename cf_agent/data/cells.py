"""Cell by cell checks of a data frame against the spec, each problem named with its rows.

Parsers turn a raw column into its dtype and list what is wrong (row number and id, the value,
a fix); cohort.py collects every problem into one DataError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cf_agent.data.spec import Feature, FeatureSpec
from cf_agent.errors import DataError

MAX_ROWS_LISTED = 5
_NA_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "<na>"})
_BOOL_WORDS = {"true": 1, "false": 0}
_FIX_MISSING = "fill in or drop the rows with empty cells; cf-agent does not impute"
_FIX_TEXT = "write plain numbers with a '.' decimal point, without units or text"
_FIX_INF = "replace infinite values with measured, finite values"


@dataclass(frozen=True)
class Problem:
    text: str
    fix: str


@dataclass(frozen=True)
class ParsedColumn:
    """A column converted to its dtype; `valid` marks cells that passed the type checks."""

    values: pd.Series
    valid: np.ndarray
    problems: list[Problem]


class RowNamer:
    """Names rows the way users find them: 1-based row number and id value."""

    def __init__(self, ids: pd.Series | None, id_column: str) -> None:
        self.ids = ids
        self.id_column = id_column

    def name(self, position: int) -> str:
        if self.ids is None:
            return f"row {position + 1}"
        return f"row {position + 1} ({self.id_column} {self.ids.iloc[position]!r})"

    def listing(self, mask: np.ndarray, raw: pd.Series | None) -> str:
        positions = np.flatnonzero(mask)
        parts = []
        for pos in positions[:MAX_ROWS_LISTED]:
            shown = "" if raw is None else f" = {_shown(raw.iloc[pos])}"
            parts.append(self.name(int(pos)) + shown)
        more = len(positions) - MAX_ROWS_LISTED
        return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def _shown(value: object) -> str:
    return repr(value.strip()) if isinstance(value, str) else repr(value)


def _count(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def _row_problem(
    column: str, mask: np.ndarray, what: str, fix: str, namer: RowNamer, raw: pd.Series | None
) -> list[Problem]:
    """One problem naming the rows in `mask` (with their values when `raw` is given), or none."""
    n = int(mask.sum())
    if n == 0:
        return []
    rows = _count(n, "row", "rows")
    return [Problem(f"column {column!r}: {what} in {rows}: {namer.listing(mask, raw)}", fix)]


def _is_missing(raw: pd.Series) -> np.ndarray:
    def missing(value: object) -> bool:
        if isinstance(value, str):
            return value.strip().lower() in _NA_TOKENS
        return bool(pd.isna(value))

    return raw.map(missing).to_numpy(dtype=bool)


def _as_number(raw: pd.Series, missing: np.ndarray, words: Mapping[str, int]) -> np.ndarray:
    """Float values of the cells (`words` maps text such as 'true' to numbers); NaN elsewhere."""

    def clean(value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            return words.get(value.lower(), value)
        if isinstance(value, bool | np.bool_):
            return int(value)
        return value

    cleaned = raw.map(clean).where(~missing, None)
    return np.asarray(pd.to_numeric(cleaned, errors="coerce"), dtype="float64")


def _as_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value.strip() if isinstance(value, str) else str(value)


def _typed(numbers: np.ndarray, valid: np.ndarray, dtype: str) -> pd.Series:
    """The numbers in `dtype`; invalid cells hold 0 and are never used (an error follows)."""
    with np.errstate(invalid="ignore"):  # a huge value's cast: out of range, refused later
        return pd.Series(np.where(valid, numbers, 0.0).astype(dtype))


def _parse_bool(raw: pd.Series, feature: Feature, namer: RowNamer) -> ParsedColumn:
    missing = _is_missing(raw)
    numbers = _as_number(raw, missing, _BOOL_WORDS)
    bad = ~missing & ~np.isin(numbers, (0.0, 1.0))
    problems = _row_problem(
        feature.name, missing, "empty or missing", _FIX_MISSING, namer, None
    ) + _row_problem(
        feature.name, bad, "not 0/1 or true/false", "write bool features as 0/1", namer, raw
    )
    valid = ~missing & ~bad
    return ParsedColumn(_typed(numbers, valid, "int64"), valid, problems)


def _parse_numeric(raw: pd.Series, feature: Feature, namer: RowNamer) -> ParsedColumn:
    name = feature.name
    missing = _is_missing(raw)
    numbers = _as_number(raw, missing, {})
    valid = np.isfinite(numbers)
    problems = (
        _row_problem(name, missing, "empty or missing", _FIX_MISSING, namer, None)
        + _row_problem(name, ~missing & np.isnan(numbers), "not a number", _FIX_TEXT, namer, raw)
        + _row_problem(name, np.isinf(numbers), "infinite", _FIX_INF, namer, raw)
    )
    if feature.kind == "float":
        return ParsedColumn(_typed(numbers, valid, "float64"), valid, problems)
    fractional = valid & (numbers != np.round(numbers))
    problems += _row_problem(
        name,
        fractional,
        "not a whole number",
        f"round {name} to whole numbers, or declare it kind = 'float' in the spec",
        namer,
        raw,
    )
    valid &= ~fractional
    return ParsedColumn(_typed(numbers, valid, "int64"), valid, problems)


def _parse_categorical(raw: pd.Series, feature: Feature, namer: RowNamer) -> ParsedColumn:
    # A declared category (e.g. "none") is a value, even where it spells an empty token.
    declared = raw.map(lambda v: isinstance(v, str) and v.strip() in (feature.categories or ()))
    missing = _is_missing(raw) & ~declared.to_numpy(dtype=bool)
    values = raw.map(_as_text).astype(object).where(~missing, "")
    problems = _row_problem(feature.name, missing, "empty or missing", _FIX_MISSING, namer, None)
    return ParsedColumn(values, ~missing, problems)


PARSERS: dict[str, Callable[[pd.Series, Feature, RowNamer], ParsedColumn]] = {
    "float": _parse_numeric,
    "int": _parse_numeric,
    "bool": _parse_bool,
    "categorical": _parse_categorical,
}


def domain_problems(
    parsed: ParsedColumn, raw: pd.Series, feature: Feature, namer: RowNamer
) -> list[Problem]:
    """Values of the right type but outside the feature's physiological range or categories."""
    if feature.kind == "categorical":
        allowed = feature.categories or ()
        unknown = parsed.valid & ~parsed.values.isin(allowed).to_numpy(dtype=bool)
        fix = (
            f"use one of {', '.join(map(repr, allowed))}, "
            f"or add the value to the categories of {feature.name} in the spec"
        )
        return _row_problem(feature.name, unknown, "not a listed category", fix, namer, raw)
    if feature.low is None or feature.high is None:  # bool: its type check is its domain
        return []
    numbers = parsed.values.to_numpy(dtype="float64")
    outside = parsed.valid & ((numbers < feature.low) | (numbers > feature.high))
    fix = (
        f"correct the values, or widen low/high of {feature.name} in the spec "
        "if they are physiologically valid"
    )
    what = f"outside {feature.describe_range()}"
    return _row_problem(feature.name, outside, what, fix, namer, raw)


def parse_label(
    raw: pd.Series, spec: FeatureSpec, namer: RowNamer
) -> tuple[pd.Series, list[Problem]]:
    missing = _is_missing(raw)
    numbers = _as_number(raw, missing, {})
    classes = sorted(spec.classes)
    known = np.isin(numbers, np.asarray(classes, dtype="float64"))
    fix = f"recode the labels to the class values {classes} listed under [classes] in the spec"
    problems = _row_problem(
        spec.label, missing, "empty or missing", "fill in or drop rows without a label", namer, None
    ) + _row_problem(spec.label, ~missing & ~known, "not a class value", fix, namer, raw)
    return _typed(numbers, known, "int64"), problems


def parse_ids(raw: pd.Series, spec: FeatureSpec) -> tuple[pd.Series, list[Problem]]:
    column = spec.id_column
    missing = _is_missing(raw)
    ids = raw.map(_as_text).astype(object)
    namer = RowNamer(None, column)
    problems = _row_problem(column, missing, "empty", "give every row an id", namer, None)
    repeated = np.flatnonzero(~missing & ids.duplicated(keep=False).to_numpy(dtype=bool))
    if len(repeated):
        rows_of: dict[str, list[str]] = {}
        for position in repeated:
            rows_of.setdefault(ids.iloc[position], []).append(str(position + 1))
        groups = [f"{value!r} at rows {', '.join(rows)}" for value, rows in rows_of.items()]
        more = len(groups) - MAX_ROWS_LISTED
        listed = "; ".join(groups[:MAX_ROWS_LISTED]) + (f" and {more} more" if more > 0 else "")
        problems.append(
            Problem(
                f"column {column!r}: {_count(len(groups), 'id', 'ids')} repeated: {listed}",
                f"give every row a unique {column}; remove repeated rows",
            )
        )
    return ids, problems


def column_problems(columns: Sequence[str], spec: FeatureSpec) -> list[Problem]:
    problems = []
    if spec.id_column not in columns:
        problems.append(
            Problem(
                f"id column {spec.id_column!r} is missing",
                f"add a column {spec.id_column!r} with a unique id per row, "
                "or set id_column in the spec to the file's id column",
            )
        )
    needed = [*spec.feature_names, spec.label]
    missing = [c for c in needed if c not in columns]
    if missing:
        problems.append(
            Problem(
                f"{_count(len(missing), 'column', 'columns')} missing: "
                f"{', '.join(map(repr, missing))}",
                "add the missing columns, or correct the feature names in the spec",
            )
        )
    known = {*needed, spec.id_column, *spec.other_columns}
    unknown = [c for c in columns if c not in known]
    if unknown:
        problems.append(
            Problem(
                f"{_count(len(unknown), 'column is', 'columns are')} not in the spec: "
                f"{', '.join(map(repr, unknown))}",
                "list them under other_columns in the spec, or remove them from the file "
                "(an 'Unnamed: 0' column is a saved index: write the file with index=False)",
            )
        )
    return problems


def raise_problems(problems: list[Problem], header: str) -> None:
    """One DataError listing every problem with its own fix, so all are fixed in one pass."""
    if not problems:
        return
    lines = [f"{header}: {_count(len(problems), 'problem', 'problems')}"]
    for problem in problems:
        lines += [f"  - {problem.text}", f"    fix: {problem.fix}"]
    raise DataError("\n".join(lines), "correct each problem listed above, then run again")
