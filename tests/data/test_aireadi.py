"""The AI-READI adapter on files in the documented layout: values, skips, specs, training.

tests/fixtures/aireadi holds ten hand-designed participants (values worked out in the comments of
test_fixture_rows_are_computed_from_the_files). Larger cohorts are generated below in the same
documented schema, so the output can be trained on.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from cf_agent.cli import app
from cf_agent.data.aireadi import AireadiOptions, write_aireadi
from cf_agent.data.cohort import load_cohort
from cf_agent.data.demo import demo_spec
from cf_agent.data.spec import load_spec
from cf_agent.errors import DataError
from cf_agent.models.classifier import train_classifier

FIXTURE = Path(__file__).parents[1] / "fixtures" / "aireadi"
# The fixture files are tiny: two wear days of two hours each, one day of six CGM readings.
SMALL = AireadiOptions(
    min_wear_days=2, min_wear_hours=2, min_nights=2, min_cgm_days=1, min_cgm_readings_per_day=4
)
WAM = "wearable_activity_monitor"


def _log(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def fixture_out(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return write_aireadi(FIXTURE, tmp_path_factory.mktemp("aireadi"), SMALL)


def test_fixture_rows_are_computed_from_the_files(fixture_out: Any) -> None:
    cohort = load_cohort(fixture_out.csv, demo_spec("glucose"))
    assert list(cohort.ids) == ["1001", "1002"]
    expected_1001 = {
        "age": 55,
        "sex": "female",  # person.csv gender_concept_id 8532
        "diabetes_stage": "none",  # study_group healthy
        "bmi": 24.2,
        # Wear days are 09-01 and 09-02 (two clock hours with a valid HR each); 09-03 has one.
        # Steps 09-01: 1500 + 0 + 2000 + 100 = 3600; 09-02: 5000 -> mean 4300.
        "steps": 4300,
        # Active 09-01: walking 20 + running 10 (the 2 h walk is a gap); 09-02: 40 -> 35.
        "active_minutes": 35,
        # Hourly means 09-01: 65, 85 (-1 and 0 are device codes); 09-02: 50, 80.
        # Resting = lowest hourly mean (65, 50) -> 57.5; mean = day mean (75, 70) -> 72.5.
        "resting_hr": 57.5,
        "mean_hr": 72.5,
        # Night 1: light 60 + 75, deep 30, rem 45 (awake not counted); night 2: light 155,
        # deep 60, rem 35; the 30 min nap on 09-02 is not a night.
        "sleep_total_min": 230,
        "sleep_deep_min": 45,
        "sleep_rem_min": 40,
        "sleep_light_min": 145,
        "stress_score": 45,  # 09-01: (20 + 40) / 2 = 30; 09-02: 60; -1 dropped, 09-03 not worn
        "respiration_rate": 14.0,  # 09-01: 15; 09-02: 13 (-2 dropped)
        "spo2_night": 95.0,  # 09-01: 96; 09-02: 94
        # CGM: Low (= 40), 100, 120, 140, 180, 200; the Calibration event is not a reading.
        "mean_glucose": 130.0,
        "time_in_range": 66.7,  # 4 of 6 within 70-180
        "glucose_cv": 40.5,  # population SD 52.6 / 130
        "hba1c": 5.9,
        "systolic_bp": 123.0,  # mean of 120 and 126; diastolic is not matched
    }
    assert cohort.row("1001") == pytest.approx(expected_1001)
    frame = cohort.frame.set_index("person_id")
    # HbA1c 5.9 is normal but time in range 66.7% < 70%; stress 45 is not above 50.
    assert frame.loc["1001", "abnormal_glucose"] == 1
    assert int(frame.loc["1001", "high_stress"]) == 0


def test_second_participant_labels_and_source_value_matching(fixture_out: Any) -> None:
    cohort = load_cohort(fixture_out.csv, demo_spec("glucose"))
    row = cohort.row("1002")
    assert (row["sex"], row["diabetes_stage"], row["age"]) == ("male", "insulin", 67)
    # HbA1c is found by its source value ("HbA1c", concept id 0).
    assert row["hba1c"] == pytest.approx(6.1)
    assert row["stress_score"] == 60  # 09-01: (55 + 65) / 2; 09-02: 60
    assert (row["mean_glucose"], row["time_in_range"]) == (150.0, 100.0)
    frame = cohort.frame.set_index("person_id")
    assert frame.loc["1002", "abnormal_glucose"] == 0  # 6.1% < 6.5% and TIR 100% >= 70%
    assert int(frame.loc["1002", "high_stress"]) == 1  # 60 > 50


def test_out_of_range_values_are_clipped_and_logged(fixture_out: Any) -> None:
    row = load_cohort(fixture_out.csv, demo_spec("glucose")).row("1002")
    assert row["bmi"] == 60.0  # 62.0 in measurement.csv
    assert row["glucose_cv"] == 5.0  # six equal readings: CV 0
    clipped = [r["reason"] for r in _log(fixture_out.log) if r["action"] == "clipped"]
    assert clipped == [
        "bmi 62 kg/m2 is outside 15-60; clipped to 60",
        "glucose_cv 0 % is outside 5-70; clipped to 5",
    ]
    assert fixture_out.clipped == 2


@pytest.mark.parametrize(
    ("person_id", "reason"),
    [
        (
            "1003",
            "cgm: no file wearable_blood_glucose/continuous_glucose_monitoring/dexcom_g6/"
            "1003/1003_DEX.json",
        ),
        ("1005", "heart_rate: 1 valid wear day(s) (>= 2 h with a heart rate), need 2"),
        ("1006", "person.csv: sex not recorded"),
        ("1007", "measurement.csv: no HbA1c value"),
        ("1008", "participants.tsv: unknown study_group 'type_1_diabetes'"),
        ("1009", f"stress: {WAM}/stress/garmin_vivosmart5/1009/1009_stress.json has no list at"),
        ("1010", "sleep: no records with sleep_stage_state and a time interval"),
    ],
)
def test_every_skipped_participant_is_logged_with_its_reason(
    fixture_out: Any, person_id: str, reason: str
) -> None:
    skipped = {
        r["person_id"]: r["reason"] for r in _log(fixture_out.log) if r["action"] == "skipped"
    }
    assert skipped[person_id].startswith(reason)


def test_counts_cover_every_participant(fixture_out: Any) -> None:
    skipped = [r for r in _log(fixture_out.log) if r["action"] == "skipped"]
    assert (fixture_out.participants, fixture_out.written, fixture_out.skipped) == (10, 2, 8)
    assert len(skipped) == 8
    assert {r["person_id"] for r in skipped} | {"1001", "1002"} == {
        str(i) for i in range(1001, 1011)
    }


def test_malformed_json_names_the_file_and_position(fixture_out: Any) -> None:
    reason = next(r["reason"] for r in _log(fixture_out.log) if r["person_id"] == "1004")
    assert reason.startswith(
        f"heart_rate: malformed JSON in {WAM}/heart_rate/garmin_vivosmart5/1004/1004_heartrate.json"
    )
    assert "line 12, column 3" in reason


def test_output_specs_are_the_demo_specs(fixture_out: Any) -> None:
    assert load_spec(fixture_out.spec) == demo_spec("glucose")
    assert load_spec(fixture_out.stress_spec) == demo_spec("stress")
    with fixture_out.csv.open(encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
    assert header == ["person_id", *demo_spec().feature_names, "abnormal_glucose", "high_stress"]


def test_progress_reports_every_participant_in_order(tmp_path: Path) -> None:
    seen: list[tuple[int, int, str]] = []
    write_aireadi(FIXTURE, tmp_path, SMALL, progress=lambda *args: seen.append(args))
    assert seen == [(i, 10, str(1000 + i)) for i in range(1, 11)]


def test_no_usable_participant_is_a_data_error_and_the_log_says_why(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="none of the 10 participants") as info:
        write_aireadi(FIXTURE, tmp_path)  # default thresholds: 3 days of 10 h, far beyond
    assert info.value.exit_code == 4
    assert "--min-wear-days" in info.value.fix
    assert not (tmp_path / "aireadi.csv").exists()
    reasons = {r["person_id"]: r["reason"] for r in _log(tmp_path / "aireadi-log.csv")}
    assert len(reasons) == 10
    assert reasons["1001"] == "heart_rate: 0 valid wear day(s) (>= 10 h with a heart rate), need 3"


@pytest.mark.parametrize(
    "missing", ["participants.tsv", "clinical_data/person.csv", "clinical_data/measurement.csv"]
)
def test_missing_index_or_clinical_table_is_a_data_error(tmp_path: Path, missing: str) -> None:
    root = tmp_path / "dataset"
    shutil.copytree(FIXTURE, root)
    (root / missing).unlink()
    with pytest.raises(DataError, match=f"AI-READI file not found: {missing}"):
        write_aireadi(root, tmp_path / "out", SMALL)


def test_duplicate_and_blank_ids_are_skipped_with_reasons(tmp_path: Path) -> None:
    root = tmp_path / "dataset"
    shutil.copytree(FIXTURE, root)
    with (root / "participants.tsv").open("a", encoding="utf-8") as handle:
        handle.write("1001\tUW\thealthy\t55\t2023-08-31\ttrain\tTRUE\tTRUE\tTRUE\n")
        handle.write("\tUW\thealthy\t55\t2023-08-31\ttrain\tTRUE\tTRUE\tTRUE\n")
    files = write_aireadi(root, tmp_path / "out", SMALL)
    reasons = [r["reason"] for r in _log(files.log) if r["action"] == "skipped"]
    assert "participants.tsv: duplicate person_id on line 12" in reasons
    assert "participants.tsv: line 13 has no person_id" in reasons
    assert files.written == 2


# --- generated cohorts in the documented schema ----------------------------------------------


def _write_json(path: Path, body_key: str, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"uuid": "AIREADI-0", "user_id": "AIREADI-0", "schema_id": {"namespace": "omh"}}
    path.write_text(json.dumps({"header": header, "body": {body_key: records}}))


def _garmin(root: Path, pid: str, folder: str, suffix: str) -> Path:
    return root / WAM / folder / "garmin_vivosmart5" / pid / f"{pid}_{suffix}.json"


def _point(key: str, when: str, value: float) -> dict[str, Any]:
    return {key: {"value": value}, "effective_time_frame": {"date_time": when}}


def _span(start: str, end: str) -> dict[str, Any]:
    return {"time_interval": {"start_date_time": start, "end_date_time": end}}


def _write_person(
    root: Path, pid: str, rng: np.random.Generator, days: int, hours: int, cgm_per_day: int
) -> tuple[float, float]:
    """One participant's wearable and CGM files; returns (HbA1c, mean stress) for the tables."""
    hba1c = float(rng.uniform(5.0, 8.5))
    stress = float(rng.uniform(25, 70))
    dates = [f"2023-09-{d:02d}" for d in range(1, days + 1)]
    hr = [
        _point("heart_rate", f"{d}T{h:02d}:00:00Z", float(rng.uniform(55, 95)))
        for d in dates
        for h in range(8, 8 + hours)
    ]
    _write_json(_garmin(root, pid, "heart_rate", "heartrate"), "heart_rate", hr)
    activity = [
        {
            "activity_name": "walking",
            "base_movement_quantity": {"value": int(rng.integers(2000, 12000)), "unit": "steps"},
            "effective_time_frame": _span(f"{d}T09:00:00Z", f"{d}T09:45:00Z"),
        }
        for d in dates
    ]
    _write_json(_garmin(root, pid, "physical_activity", "activity"), "activity", activity)
    stress_points = [_point("stress", f"{d}T09:00:00Z", stress) for d in dates]
    _write_json(_garmin(root, pid, "stress", "stress"), "stress", stress_points)
    breaths = [_point("respiratory_rate", f"{d}T09:00:00Z", 12 + stress / 20) for d in dates]
    _write_json(_garmin(root, pid, "respiratory_rate", "respiratoryrate"), "breathing", breaths)
    spo2 = [_point("oxygen_saturation", f"{d}T05:00:00Z", 96.0) for d in dates]
    _write_json(_garmin(root, pid, "oxygen_saturation", "oxygensaturation"), "breathing", spo2)
    light_end = f"05:{int(rng.integers(0, 59)):02d}"
    sleep = [
        {"sleep_stage_state": stage, "effective_time_frame": _span(f"{d}T{a}:00Z", f"{d}T{b}:00Z")}
        for d in dates[:2]
        for stage, a, b in (("light", "01:00", light_end), ("deep", "06:00", "07:00"))
    ]
    _write_json(_garmin(root, pid, "sleep", "sleep"), "sleep", sleep)
    level = 28.7 * hba1c - 46.7
    times = [
        f"{d}T{m // 60:02d}:{m % 60:02d}:00Z" for d in dates for m in range(0, 5 * cgm_per_day, 5)
    ]
    cgm = [
        {
            "effective_time_frame": _span(t, t),
            "event_type": "EGV",
            "blood_glucose": {"unit": "mg/dL", "value": round(level + rng.normal(0, 25))},
        }
        for t in times
    ]
    cgm_path = root.joinpath(
        "wearable_blood_glucose", "continuous_glucose_monitoring", "dexcom_g6", pid
    )
    _write_json(cgm_path / f"{pid}_DEX.json", "cgm", cgm)
    return hba1c, stress


def _write_cohort(
    root: Path, n: int, days: int = 2, hours: int = 2, cgm_per_day: int = 4, seed: int = 0
) -> None:
    rng = np.random.default_rng(seed)
    groups = [
        "healthy",
        "pre_diabetes_lifestyle_controlled",
        "oral_medication_and_or_non_insulin_injectable_medication_controlled",
        "insulin_dependent",
    ]
    tsv = ["person_id\tclinical_site\tstudy_group\tage\tstudy_visit_date\trecommended_split"]
    person = ["person_id,gender_concept_id,year_of_birth"]
    measurement = ["person_id,measurement_concept_id,measurement_source_value,value_as_number"]
    for i in range(n):
        pid = str(2001 + i)
        hba1c, _stress = _write_person(root, pid, rng, days, hours, cgm_per_day)
        tsv.append(f"{pid}\tUW\t{groups[i % 4]}\t{45 + i % 30}\t2023-08-31\ttrain")
        person.append(f"{pid},{8532 if i % 2 else 8507},1970")
        measurement += [
            f"{pid},3004410,HbA1c,{hba1c:.1f}",
            f"{pid},4245997,BMI,{rng.uniform(20, 38):.1f}",
            f"{pid},3004249,Systolic (mmHg),{rng.integers(100, 160)}",
        ]
    (root / "clinical_data").mkdir(parents=True, exist_ok=True)
    (root / "participants.tsv").write_text("\n".join(tsv) + "\n")
    (root / "clinical_data" / "person.csv").write_text("\n".join(person) + "\n")
    (root / "clinical_data" / "measurement.csv").write_text("\n".join(measurement) + "\n")


def test_generated_cohort_obeys_the_spec_rules_loads_and_trains(tmp_path: Path) -> None:
    _write_cohort(tmp_path / "dataset", n=60)
    files = write_aireadi(tmp_path / "dataset", tmp_path / "out", SMALL)
    assert (files.written, files.skipped) == (60, 0)
    for target in ("glucose", "stress"):
        spec = load_spec(files.spec if target == "glucose" else files.stress_spec)
        cohort = load_cohort(files.csv, spec)
        assert len(cohort) == 60
        assert set(cohort.labels) == {0, 1}
        for row in cohort.rows():
            assert [rule.violation(row) for rule in spec.rules] == [None, None]
        result = train_classifier(cohort, kind="gbm", test_size=0.25, seed=0)
        proba = result.bundle.predict_proba(cohort.features)
        assert proba.shape == (60, 2)
        assert np.allclose(proba.sum(axis=1), 1.0)
        assert set(result.split["split"]) == {"train", "test"}


def test_cli_writes_the_table_with_default_thresholds(tmp_path: Path) -> None:
    # Defaults: 3 wear days of >= 10 h, 2 nights, 3 CGM days of >= 144 readings.
    _write_cohort(tmp_path / "dataset", n=3, days=3, hours=10, cgm_per_day=144)
    result = CliRunner().invoke(
        app, ["data", "aireadi", "--root", str(tmp_path / "dataset"), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 3 of 3 participants" in result.output
    assert {p.name for p in (tmp_path / "o").iterdir()} == {
        "aireadi.csv",
        "aireadi.toml",
        "aireadi-stress.toml",
        "aireadi-log.csv",
    }
    assert len(load_cohort(tmp_path / "o" / "aireadi.csv", demo_spec("glucose"))) == 3


def test_adapter_output_runs_through_the_agent_unchanged(tmp_path: Path) -> None:
    """AI-READI table -> `cf-agent train` -> `run_agent`, exactly as for the demo cohort."""
    from scripted import ScriptedBackend, more_steps

    from cf_agent.agent.runner import RunOptions, run_agent
    from cf_agent.models.llm.proposer import LLMProposer
    from cf_agent.prompts.render import load_prompt
    from cf_agent.services import train_and_save

    _write_cohort(tmp_path / "dataset", n=60)
    files = write_aireadi(tmp_path / "dataset", tmp_path / "out", SMALL)
    train_and_save(files.csv, files.spec, tmp_path / "model", "logreg", 0.25, 0)
    spec = load_spec(files.spec)
    proposer = LLMProposer(
        ScriptedBackend([more_steps(2000)]), spec, load_prompt("zero_shot"), load_prompt("revise")
    )
    outcome = run_agent(
        RunOptions(
            data=files.csv, spec=files.spec, model_dir=tmp_path / "model",
            out=tmp_path / "r.jsonl", n=3, max_rounds=1, model="scripted",
        ),
        proposer=proposer,
    )  # fmt: skip
    lines = (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()
    assert outcome.summary.queries == len(lines) >= 1
    if outcome.summary.returned_cfs:
        assert outcome.summary.returned_validity == 1.0
