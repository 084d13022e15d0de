"""load_cohort and frame_from_rows: dtypes of valid data, one clear error per bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cf_agent.data.cohort import Cohort, frame_from_rows, load_cohort
from cf_agent.data.spec import FeatureSpec, spec_from_dict
from cf_agent.errors import DataError

HEADER = "person_id,age,bmi,sex,smoker,diabetes,note"
GOOD_ROWS = [
    "p1,40,22.5,male,0,0,first visit",
    "p2,55,31.0,female,true,1,",
    "p3,63,27.25,female,FALSE,1,x",
]


@pytest.fixture
def spec() -> FeatureSpec:
    return spec_from_dict(
        {
            "label": "diabetes",
            "classes": {0: "no diabetes", 1: "diabetes"},
            "desired_class": 0,
            "other_columns": ["note"],
            "features": [
                {
                    "name": "age",
                    "kind": "int",
                    "unit": "years",
                    "description": "Age",
                    "group": "demographic",
                    "low": 18,
                    "high": 90,
                    "actionability": "immutable",
                },
                {
                    "name": "bmi",
                    "kind": "float",
                    "unit": "kg/m2",
                    "description": "Body mass index",
                    "group": "clinical",
                    "low": 10,
                    "high": 60,
                },
                {
                    "name": "sex",
                    "kind": "categorical",
                    "description": "Sex",
                    "group": "demographic",
                    "categories": ["female", "male"],
                    "actionability": "immutable",
                },
                {"name": "smoker", "kind": "bool", "description": "Smokes", "group": "clinical"},
            ],
        }
    )


def write_csv(tmp_path: Path, lines: list[str], name: str = "cohort.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def with_cell(row: int, column: str, value: str) -> list[str]:
    """The good file with one cell (row numbered from 1) replaced."""
    names = HEADER.split(",")
    rows = [line.split(",") for line in GOOD_ROWS]
    rows[row - 1][names.index(column)] = value
    return [HEADER, *(",".join(r) for r in rows)]


def load_error(path: Path, spec: FeatureSpec) -> DataError:
    with pytest.raises(DataError) as info:
        load_cohort(path, spec)
    return info.value


def test_valid_csv_has_spec_order_and_dtypes(tmp_path: Path, spec: FeatureSpec) -> None:
    path = write_csv(tmp_path, [HEADER, *GOOD_ROWS])
    cohort = load_cohort(path, spec)
    assert list(cohort.frame.columns) == [
        "person_id",
        "age",
        "bmi",
        "sex",
        "smoker",
        "diabetes",
        "note",
    ]
    dtypes = cohort.frame.dtypes.astype(str).to_dict()
    assert dtypes["age"] == "int64"
    assert dtypes["bmi"] == "float64"
    assert dtypes["smoker"] == "int64"
    assert dtypes["diabetes"] == "int64"
    assert dtypes["sex"] == "object"
    assert cohort.ids.tolist() == ["p1", "p2", "p3"]
    assert cohort.features["smoker"].tolist() == [0, 1, 0]
    assert cohort.labels.tolist() == [0, 1, 1]
    assert cohort.data_hash == hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    assert cohort.source == str(path)
    assert len(cohort) == 3


def test_rows_are_plain_python_feature_dicts(tmp_path: Path, spec: FeatureSpec) -> None:
    cohort = load_cohort(write_csv(tmp_path, [HEADER, *GOOD_ROWS]), spec)
    rows = cohort.rows()
    assert rows[1] == {"age": 55, "bmi": 31.0, "sex": "female", "smoker": 1}
    assert type(rows[1]["age"]) is int
    assert cohort.row("p3") == rows[2]
    with pytest.raises(DataError, match="'p9'"):
        cohort.row("p9")


def test_parquet_loads_like_csv(tmp_path: Path, spec: FeatureSpec) -> None:
    from_csv = load_cohort(write_csv(tmp_path, [HEADER, *GOOD_ROWS]), spec)
    native = from_csv.frame.assign(smoker=from_csv.frame["smoker"].astype(bool))
    native.to_parquet(tmp_path / "cohort.parquet", index=False)
    from_parquet = load_cohort(tmp_path / "cohort.parquet", spec)
    pd.testing.assert_frame_equal(
        from_parquet.frame.drop(columns="note"), from_csv.frame.drop(columns="note")
    )


def test_parquet_cells_are_validated(tmp_path: Path, spec: FeatureSpec) -> None:
    frame = pd.DataFrame(
        {
            "person_id": [1, 2, 3],
            "age": [40, 50, 60],
            "bmi": [22.0, np.nan, 80.0],
            "sex": ["male", "female", "male"],
            "smoker": [0, 1, 0],
            "diabetes": [0, 1, 1],
        }
    )
    frame.to_parquet(tmp_path / "cohort.parquet", index=False)
    message = load_error(tmp_path / "cohort.parquet", spec).message
    assert "column 'bmi': empty or missing in 1 row: row 2 (person_id '2')" in message
    assert "column 'bmi': outside 10 to 60 kg/m2 in 1 row: row 3 (person_id '3') = 80.0" in message


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("age", "", "empty or missing"),
        ("bmi", "NaN", "empty or missing"),
        ("bmi", "inf", "infinite"),
        ("bmi", "31 kg", "not a number"),
        ("age", "55.5", "not a whole number"),
        ("age", "120", "outside 18 to 90 years"),
        ("bmi", "7.5", "outside 10 to 60 kg/m2"),
        ("sex", "other", "not a listed category"),
        ("smoker", "2", "not 0/1 or true/false"),
        ("smoker", "yes", "not 0/1 or true/false"),
        ("diabetes", "2", "not a class value"),
        ("diabetes", "", "empty or missing"),
    ],
)
def test_bad_cell_names_file_column_row_and_id(
    tmp_path: Path, spec: FeatureSpec, column: str, value: str, problem: str
) -> None:
    path = write_csv(tmp_path, with_cell(2, column, value))
    error = load_error(path, spec)
    assert str(path) in error.message
    assert f"column {column!r}: {problem} in 1 row: row 2 (person_id 'p2')" in error.message
    assert "fix:" in error.message
    assert error.exit_code == 4


def test_every_problem_is_reported_at_once(tmp_path: Path, spec: FeatureSpec) -> None:
    lines = [
        "person_id,age,bmi,sex,smoker,diabetes,ward",
        "p1,17,abc,male,0,0,a",
        "p1,40,22.0,unknown,0,5,b",
    ]
    message = load_error(write_csv(tmp_path, lines), spec).message
    assert "6 problems" in message
    for expected in [
        "not in the spec: 'ward'",
        "'p1' at rows 1, 2",
        "column 'age': outside",
        "column 'bmi': not a number",
        "column 'sex': not a listed category",
        "column 'diabetes': not a class value",
    ]:
        assert expected in message


def test_row_listing_is_capped(tmp_path: Path, spec: FeatureSpec) -> None:
    rows = [f"p{i},40,99,male,0,0," for i in range(1, 9)]
    message = load_error(write_csv(tmp_path, [HEADER, *rows]), spec).message
    assert "outside 10 to 60 kg/m2 in 8 rows" in message
    assert "row 5 (person_id 'p5')" in message
    assert "row 6 (person_id 'p6')" not in message
    assert "and 3 more" in message


def test_missing_columns_are_all_listed(tmp_path: Path, spec: FeatureSpec) -> None:
    lines = ["person_id,age,sex", "p1,40,male"]
    message = load_error(write_csv(tmp_path, lines), spec).message
    assert "3 columns missing: 'bmi', 'smoker', 'diabetes'" in message


def test_unknown_columns_point_to_other_columns(tmp_path: Path, spec: FeatureSpec) -> None:
    lines = [HEADER + ",hba1c,Unnamed: 0", *(row + ",5.5,0" for row in GOOD_ROWS)]
    message = load_error(write_csv(tmp_path, lines), spec).message
    assert "2 columns are not in the spec: 'hba1c', 'Unnamed: 0'" in message
    assert "other_columns" in message


def test_missing_id_column(tmp_path: Path, spec: FeatureSpec) -> None:
    lines = ["age,bmi,sex,smoker,diabetes", "40,22.5,male,0,0", "50,99,male,0,0"]
    message = load_error(write_csv(tmp_path, lines), spec).message
    assert "id column 'person_id' is missing" in message
    assert "column 'bmi': outside 10 to 60 kg/m2 in 1 row: row 2 = '99'" in message


def test_empty_and_repeated_ids(tmp_path: Path, spec: FeatureSpec) -> None:
    lines = [HEADER, *GOOD_ROWS, "p2,44,25,male,0,0,", ",44,25,male,0,0,"]
    message = load_error(write_csv(tmp_path, lines), spec).message
    assert "column 'person_id': 1 id repeated: 'p2' at rows 2, 4" in message
    assert "column 'person_id': empty in 1 row: row 5" in message


def test_missing_file(tmp_path: Path, spec: FeatureSpec) -> None:
    error = load_error(tmp_path / "absent.csv", spec)
    assert "not found" in error.message
    assert "absent.csv" in error.message


def test_unsupported_extension(tmp_path: Path, spec: FeatureSpec) -> None:
    path = tmp_path / "cohort.xlsx"
    path.write_bytes(b"PK")
    assert ".csv and .parquet" in load_error(path, spec).message


def test_empty_file(tmp_path: Path, spec: FeatureSpec) -> None:
    path = tmp_path / "cohort.csv"
    path.write_text("\n", encoding="utf-8")
    assert "is empty" in load_error(path, spec).message


def test_header_only(tmp_path: Path, spec: FeatureSpec) -> None:
    assert "no data rows" in load_error(write_csv(tmp_path, [HEADER]), spec).message


def test_not_utf8(tmp_path: Path, spec: FeatureSpec) -> None:
    path = tmp_path / "cohort.csv"
    path.write_bytes((HEADER + "\np1,40,22.5,m\xe4le,0,0,\n").encode("latin-1"))
    error = load_error(path, spec)
    assert "not UTF-8" in error.message
    assert "UTF-8" in error.fix


def test_ragged_csv(tmp_path: Path, spec: FeatureSpec) -> None:
    lines = [HEADER, GOOD_ROWS[0], GOOD_ROWS[1] + ",extra,fields"]
    assert "not a readable CSV" in load_error(write_csv(tmp_path, lines), spec).message


def test_semicolon_separated(tmp_path: Path, spec: FeatureSpec) -> None:
    lines = [HEADER.replace(",", ";"), GOOD_ROWS[0].replace(",", ";")]
    assert "';' instead of ','" in load_error(write_csv(tmp_path, lines), spec).message


def test_corrupt_parquet(tmp_path: Path, spec: FeatureSpec) -> None:
    path = tmp_path / "cohort.parquet"
    path.write_bytes(b"PAR1 not really parquet")
    assert "not a readable Parquet file" in load_error(path, spec).message


def test_frame_from_rows_matches_cohort_dtypes(tmp_path: Path, spec: FeatureSpec) -> None:
    cohort: Cohort = load_cohort(write_csv(tmp_path, [HEADER, *GOOD_ROWS]), spec)
    rows = [
        {"age": 40.0, "bmi": "22.5", "sex": "male", "smoker": False, "person_id": "p1"},
        {"age": 200, "bmi": 5, "sex": "unknown", "smoker": 1},
    ]
    frame = frame_from_rows(rows, spec)
    assert list(frame.columns) == spec.feature_names
    pd.testing.assert_series_equal(frame.dtypes, cohort.features.dtypes)
    # ranges and categories are the plausibility verifier's job, not a type error
    assert frame.iloc[1].tolist() == [200, 5.0, "unknown", 1]


def test_frame_from_rows_round_trips_cohort_rows(tmp_path: Path, spec: FeatureSpec) -> None:
    cohort = load_cohort(write_csv(tmp_path, [HEADER, *GOOD_ROWS]), spec)
    pd.testing.assert_frame_equal(frame_from_rows(cohort.rows(), spec), cohort.features)


def test_frame_from_rows_of_nothing_keeps_dtypes(spec: FeatureSpec) -> None:
    frame = frame_from_rows([], spec)
    assert frame.empty
    assert frame.dtypes.astype(str).tolist() == ["int64", "float64", "object", "int64"]


def test_frame_from_rows_refuses_missing_keys(spec: FeatureSpec) -> None:
    with pytest.raises(DataError, match="row 1 lacks 'sex', 'smoker'"):
        frame_from_rows([{"age": 40, "bmi": 20.0}], spec)


def test_frame_from_rows_refuses_wrong_types(spec: FeatureSpec) -> None:
    rows = [{"age": 40.5, "bmi": "tall", "sex": "male", "smoker": 3}]
    with pytest.raises(DataError) as info:
        frame_from_rows(rows, spec)
    message = info.value.message
    assert "column 'age': not a whole number in 1 row: row 1 = 40.5" in message
    assert "column 'bmi': not a number in 1 row: row 1 = 'tall'" in message
    assert "column 'smoker': not 0/1 or true/false in 1 row: row 1 = 3" in message
