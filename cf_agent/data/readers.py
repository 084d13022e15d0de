"""Data files to raw frames: every cell as stored, so that validation sees what the user wrote."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from cf_agent.errors import DataError


def _read_csv(raw: bytes, path: Path) -> pd.DataFrame:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"data file {path} is not UTF-8 text (bad byte at position {exc.start})",
            "save it as UTF-8, e.g. 'CSV UTF-8' in a spreadsheet program",
        ) from None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=object, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataError(
            f"data file {path} is not a readable CSV file: {exc}",
            "make every line have the same number of comma-separated fields as the header",
        ) from None
    if len(frame.columns) == 1 and ";" in str(frame.columns[0]):
        raise DataError(
            f"data file {path} separates columns with ';' instead of ','",
            "save it as comma-separated CSV",
        )
    return frame


def _read_parquet(raw: bytes, path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(io.BytesIO(raw))
    except Exception as exc:  # pyarrow raises many types for damaged files
        raise DataError(
            f"data file {path} is not a readable Parquet file: {exc}",
            "write it again with pandas.DataFrame.to_parquet, or save it as CSV",
        ) from None
    return frame.reset_index(drop=True).astype(object)


READERS: dict[str, Callable[[bytes, Path], pd.DataFrame]] = {
    ".csv": _read_csv,
    ".parquet": _read_parquet,
}
