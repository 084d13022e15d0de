"""Fuzzed loaders: every spec and data file either loads or fails with a CfAgentError.

Property-based (hypothesis): spec TOML built from random structures (random types in every
field, huge numbers, NaN and infinities, unicode names) or from the demo spec with one field
replaced by junk; data files from a small spec's rows with random cells (huge values, unicode,
quotes, newlines, empty), columns dropped, renamed or repeated; each file then written with a
BOM, CRLF line ends, UTF-16 or Latin-1, cut short, or empty. Parquet files with random column
types too. The property: the loader returns, or raises a CfAgentError with the exit code of
its category (3 spec, 4 data); any other exception (a traceback for the user) fails the test.

Budget: FUZZ_EXAMPLES examples per test (default 120, a few seconds each test); raise it with
the environment variable CF_AGENT_FUZZ_EXAMPLES for a longer hunt.
"""

from __future__ import annotations

import csv
import io
import math
import os
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st

from cf_agent.data.cohort import load_cohort
from cf_agent.data.demo import write_demo
from cf_agent.data.spec import FeatureSpec, load_spec, spec_from_dict
from cf_agent.errors import CfAgentError

FUZZ_EXAMPLES = int(os.environ.get("CF_AGENT_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- the pieces: values of every type, names, and the byte-level damage applied to a file ------

HUGE = [1e308, -1e308, 1.7976931348623157e308, 2**63, -(2**63) - 1, 10**40, 5e-324]
names = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    st.text(min_size=0, max_size=12),  # unicode, spaces, control characters, empty
    st.sampled_from(["größe_cm", "体重", "age", "steps", "person_id", "label", " age "]),
)
numbers = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(HUGE),
)
scalars = st.one_of(numbers, st.booleans(), st.text(max_size=16))
junk = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=4), scalars, max_size=2),
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The strategy's values mostly, anything else sometimes."""
    return st.one_of(strategy, strategy, junk)


# Encodings a loader must read (UTF-8, with BOM and/or CRLF) come up more often than the rest.
READABLE = ("utf-8", "bom", "crlf", "bom+crlf")
ENCODINGS = (*READABLE, *READABLE, "utf-16", "latin-1", "truncated", "empty")


def encode(text: str, how: str) -> bytes:
    if how == "empty":
        return b""
    if "crlf" in how:
        text = text.replace("\n", "\r\n")
    if how == "utf-16":
        return text.encode("utf-16")
    if how == "latin-1":
        return text.encode("latin-1", errors="replace")
    data = text.encode("utf-8", errors="surrogatepass")
    if how.startswith("bom"):
        data = b"\xef\xbb\xbf" + data
    if how == "truncated":
        data = data[: len(data) * 2 // 3]
    return data


def loads_or_refuses(load: Any, code: int) -> Any:
    """Call `load`; a CfAgentError must carry `code`; anything else escapes and fails the test."""
    try:
        loaded = load()
    except CfAgentError as error:
        assert error.exit_code == code, f"{type(error).__name__} exits {error.exit_code}: {error}"
        assert error.message.strip(), "a refusal says what is wrong"
        event("refused")
        return None
    event("loaded")
    return loaded


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# -- spec files --------------------------------------------------------------------------------

feature = st.fixed_dictionaries(
    {"name": maybe(names), "kind": maybe(st.sampled_from(["int", "float", "categorical", "bool"]))},
    optional={
        "description": maybe(st.text(max_size=30)),
        "group": maybe(st.sampled_from(["demographic", "clinical", "wearable", "cgm"])),
        "unit": maybe(st.text(max_size=40)),
        "low": maybe(numbers),
        "high": maybe(numbers),
        "categories": maybe(st.lists(st.text(max_size=8), max_size=4)),
        "actionability": maybe(st.sampled_from(["immutable", "free", "increase_only"])),
        "max_change": maybe(numbers),
    },
)
rule = st.fixed_dictionaries(
    {"kind": maybe(st.sampled_from(["sum", "less_equal"]))},
    optional={
        "parts": maybe(st.lists(names, max_size=3)),
        "total": maybe(names),
        "left": maybe(names),
        "right": maybe(names),
        "tolerance": maybe(numbers),
    },
)
random_spec = st.fixed_dictionaries(
    {"label": maybe(names), "features": maybe(st.lists(feature, max_size=4))},
    optional={
        "schema_version": maybe(st.integers(-1, 3)),
        "name": maybe(st.text(max_size=20)),
        "id_column": maybe(names),
        "classes": maybe(
            st.dictionaries(st.sampled_from(["0", "1", "2", "x", ""]), st.text(max_size=8))
        ),
        "desired_class": maybe(st.integers(-2, 3)),
        "rules": maybe(st.lists(rule, max_size=2)),
        "other_columns": maybe(st.lists(names, max_size=2)),
    },
)


@st.composite
def mutated_demo_spec(draw: st.DrawFn, demo: dict[str, Any]) -> dict[str, Any]:
    """The demo spec with one top-level field, or one field of one feature, replaced by junk."""
    spec = {**demo, "features": [dict(f) for f in demo["features"]]}
    if draw(st.booleans()):
        spec[draw(st.sampled_from(sorted(spec)))] = draw(junk)
    else:
        target = draw(st.sampled_from(spec["features"]))
        target[draw(st.sampled_from(sorted(target)))] = draw(junk)
    return spec


@st.composite
def benign_demo_spec(draw: st.DrawFn, demo: dict[str, Any]) -> dict[str, Any]:
    """The demo spec with valid but unusual values: unicode text, huge finite ranges."""
    spec = {**demo, "features": [dict(f) for f in demo["features"]]}
    spec["name"] = draw(st.text(max_size=30))
    for target in spec["features"]:
        target["description"] = draw(st.text(min_size=1, max_size=200).filter(str.strip))
        target["unit"] = draw(st.text(max_size=32))
        if target["kind"] == "float" and draw(st.booleans()):
            target["low"], target["high"] = -1e300, 1e300
            target.pop("max_change", None)
    return spec


@pytest.fixture(scope="module")
def demo_spec(work: Path) -> dict[str, Any]:
    files = write_demo(work / "demo", n=60, seed=0)
    return tomllib.loads(files.spec.read_text(encoding="utf-8"))


@FUZZ
@given(data=st.data(), how=st.sampled_from(ENCODINGS))
def test_fuzzed_spec_files_load_or_fail_with_a_spec_error(
    work: Path, demo_spec: dict[str, Any], data: st.DataObject, how: str
) -> None:
    spec = data.draw(
        st.one_of(random_spec, mutated_demo_spec(demo_spec), benign_demo_spec(demo_spec))
    )
    try:
        text = tomli_w.dumps(spec)
    except (TypeError, ValueError):
        reject()  # not expressible as TOML at all
    path = work / "spec.toml"
    path.write_bytes(encode(text, how))

    loaded = loads_or_refuses(lambda: load_spec(path), 3)

    if loaded is not None:
        assert isinstance(loaded, FeatureSpec)
        assert spec_from_dict(tomllib.loads(loaded.to_toml())) == loaded, "a loaded spec saves"


@FUZZ
@given(text=st.text(max_size=300), how=st.sampled_from(ENCODINGS))
def test_arbitrary_text_as_a_spec_file_fails_cleanly(work: Path, text: str, how: str) -> None:
    path = work / "text.toml"
    path.write_bytes(encode(text, how))
    loads_or_refuses(lambda: load_spec(path), 3)


# -- data files --------------------------------------------------------------------------------

SMALL_SPEC = spec_from_dict(
    {
        "label": "outcome",
        "classes": {0: "fine", 1: "not fine"},
        "desired_class": 0,
        "features": [
            {"name": "age", "kind": "int", "description": "Age.", "group": "demographic",
             "low": 18, "high": 90, "actionability": "immutable"},
            {"name": "weight", "kind": "float", "description": "Weight.", "group": "clinical",
             "low": 30, "high": 200, "unit": "kg"},
            {"name": "sex", "kind": "categorical", "description": "Sex.",
             "group": "demographic", "categories": ["f", "m", "ü"]},
            {"name": "smoker", "kind": "bool", "description": "Smokes.", "group": "clinical"},
        ],
        "other_columns": ["note"],
    }
)  # fmt: skip
COLUMNS = ["person_id", "age", "weight", "sex", "smoker", "outcome", "note"]
GOOD = {
    "age": st.integers(18, 90).map(str),
    "weight": st.floats(30, 200).map(lambda x: f"{x:.1f}"),
    "sex": st.sampled_from(["f", "m", "ü"]),
    "smoker": st.sampled_from(["0", "1", "true", "False", "yes"]),
    "outcome": st.sampled_from(["0", "1"]),
    "note": st.text(max_size=10),
}
bad_cell = st.one_of(
    st.text(max_size=12),  # unicode, quotes, commas, newlines, empty
    st.sampled_from(["", "NaN", "inf", "-inf", "1e400", "9" * 400, "NA", "null", "1,5", '"']),
    numbers.map(str),
)


@st.composite
def table(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """A header and rows: mostly valid cells, some bad, columns sometimes broken."""
    header = list(COLUMNS)
    change = draw(st.sampled_from(["none"] * 6 + ["drop", "rename", "repeat", "extra"]))
    if change == "drop":
        header.remove(draw(st.sampled_from(header)))
    elif change == "rename":
        header[draw(st.integers(0, len(header) - 1))] = draw(names)
    elif change == "repeat":
        header.append(draw(st.sampled_from(header)))
    elif change == "extra":
        header.append(draw(names))
    rows = []
    bad_odds = draw(st.sampled_from([0, 40, 10]))  # no bad cells, a few, many
    for i in range(draw(st.integers(0, 8))):
        good = {**GOOD, "person_id": st.just(f"P{i:04d}")}  # unique unless a bad cell lands
        rows.append(
            [
                draw(st.one_of(good.get(column, bad_cell), bad_cell))
                if bad_odds and draw(st.integers(0, bad_odds)) == 0
                else draw(good.get(column, bad_cell))
                for column in header
            ]
        )
    return header, rows


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


@FUZZ
@given(content=table(), how=st.sampled_from(ENCODINGS))
def test_fuzzed_csv_files_load_or_fail_with_a_data_error(
    work: Path, content: tuple[list[str], list[list[str]]], how: str
) -> None:
    path = work / "data.csv"
    path.write_bytes(encode(to_csv(*content), how))

    cohort = loads_or_refuses(lambda: load_cohort(path, SMALL_SPEC), 4)

    if cohort is not None:
        frame = cohort.frame
        assert len(frame) == len(content[1]) > 0
        assert frame["age"].between(18, 90).all()
        assert all(math.isfinite(w) and 30 <= w <= 200 for w in frame["weight"])


@FUZZ
@given(text=st.text(max_size=400), how=st.sampled_from(ENCODINGS))
def test_arbitrary_text_as_a_csv_file_fails_cleanly(work: Path, text: str, how: str) -> None:
    path = work / "text.csv"
    path.write_bytes(encode(text, how))
    loads_or_refuses(lambda: load_cohort(path, SMALL_SPEC), 4)


column_values = st.one_of(
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=3, max_size=3),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=3, max_size=3),
    st.lists(st.text(max_size=6), min_size=3, max_size=3),
    st.lists(st.booleans(), min_size=3, max_size=3),
    st.lists(st.one_of(st.none(), st.integers(0, 100)), min_size=3, max_size=3),
)


@settings(FUZZ, max_examples=max(10, FUZZ_EXAMPLES // 3))  # each example writes a Parquet file
@given(columns=st.dictionaries(st.sampled_from(COLUMNS) | names, column_values, max_size=8))
def test_fuzzed_parquet_files_load_or_fail_with_a_data_error(
    work: Path, columns: dict[str, list[Any]]
) -> None:
    path = work / "data.parquet"
    try:
        pd.DataFrame(columns).to_parquet(path)
    except Exception:
        reject()
    loads_or_refuses(lambda: load_cohort(path, SMALL_SPEC), 4)
