"""run_study end to end on a small demo cohort: every arm, outputs, resume after a kill, refusal.

Real sklearn models and the real search baseline; the agent arm's routing runs with a scripted
chat model (the real embedded model: test_augment_embedded.py).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from augment.augment_fixture import DemoStudy, demo_study
from scripted import ScriptedBackend

from cf_agent.augment import AugmentOutcome, run_study
from cf_agent.augment.generate import augmentation_spec
from cf_agent.augment.scenarios import kept_count, scarce_training
from cf_agent.augment.units import CHUNK, chunk_size
from cf_agent.errors import OutputError
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.prompts.render import load_prompt

ARMS = ["scarce", "cf:search", "cf:search+pull0.5", "smote", "oversample"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoStudy:
    return demo_study(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def finished(demo: DemoStudy, tmp_path_factory: pytest.TempPathFactory) -> AugmentOutcome:
    return run_study(demo.options(tmp_path_factory.mktemp("study")))


def test_every_scenario_and_count_has_every_arm_scored_on_the_same_test_rows(
    demo: DemoStudy, finished: AugmentOutcome
) -> None:
    summary = pd.DataFrame(finished.summary)
    for scenario in ("keep50", "keep25"):
        part = summary[summary["scenario"] == scenario]
        assert list(part["arm"]) == ["scarce", *ARMS[1:] * 2, "full"]
        assert list(part["rows"]) == ["0", *["3"] * 4, *["6"] * 4, "0"]
    assert (summary["seeds"] == 2).all()
    results = pd.read_csv(finished.files.results_csv)
    assert len(results) == 2 * 2 * (1 + 2 * 4 + 1)
    assert (results["n_test"] == len(demo.test)).all()
    scarce = results[results["arm"] == "scarce"]
    assert (scarce["f1_recovery"] == 0).all()
    assert (results[results["arm"] == "full"]["f1_recovery"] == 1).all()
    n_minority = int((demo.train["abnormal_glucose"] == 1).sum())
    for keep in (0.5, 0.25):
        n_scarce = len(demo.train) - n_minority + kept_count(keep, n_minority)
        rows = results[results["keep"] == keep]
        assert (rows["n_train"] == n_scarce + rows["rows_added"]).all()
    resampled = results[results["arm"].isin(["smote", "oversample"])]
    assert (resampled["rows_added"] == resampled["rows_sought"]).all()
    assert set(resampled["rows_sought"]) == {3, 6}
    cf = results[results["arm"] == "cf:search"]
    assert (cf["rows_added"] <= cf["rows_sought"]).all() and cf["rows_added"].sum() > 0
    pulled = results[results["arm"] == "cf:search+pull0.5"]
    assert pulled["rows_added"].tolist() == cf["rows_added"].tolist()  # the same CF rows, moved


def test_cf_rows_come_only_from_scarce_majority_rows_and_never_copy_a_test_row(
    demo: DemoStudy, finished: AugmentOutcome
) -> None:
    generated = pd.read_csv(finished.files.generated_csv)
    assert len(generated) > 0
    assert set(generated["method"]) == {"search"}
    for (scenario, seed), part in generated.groupby(["scenario", "seed"]):
        keep = float(part["keep"].iloc[0])
        scarce = scarce_training(demo.train, "abnormal_glucose", 1, keep, int(seed)).train
        majority_ids = set(scarce[scarce["abnormal_glucose"] == 0]["person_id"])
        assert set(part["source_id"]) <= majority_ids, scenario
    names = demo.spec.feature_names
    test_rows = set(map(tuple, demo.test[names].astype(str).to_numpy().tolist()))
    cf_rows = set(map(tuple, generated[names].astype(str).to_numpy().tolist()))
    assert not test_rows & cf_rows
    verified = (
        generated["classifier_passed"]
        & generated["actionability_passed"]
        & generated["plausibility_passed"]
    )
    assert (generated["used"] == verified).all()
    results = pd.read_csv(finished.files.results_csv)
    cf = results[results["arm"] == "cf:search"].set_index(["scenario", "seed", "rows"])
    used = generated[generated["used"]].groupby(["scenario", "seed"]).size()
    for (scenario, seed, count), row in cf.iterrows():
        assert row["rows_added"] == min(int(count), used.get((scenario, seed), 0))


def test_report_table_and_figure_are_written(finished: AugmentOutcome) -> None:
    report = finished.files.markdown.read_text(encoding="utf-8")
    assert "| logreg | 6 | cf:search |" in report
    assert "recovery, 25% kept" in report and "beats SMOTE" in report
    assert "f1_by_rows_added.png" in report
    assert finished.files.figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = pd.read_csv(finished.files.summary_csv)
    assert {"f1_recovery_mean", "f1_recovery_ci", "p_vs_smote", "f1_vs_smote"} <= set(summary)


class Killed(Exception):
    """Stands in for a SIGKILL at a chosen progress step."""


def test_a_killed_study_resumes_to_the_same_results(
    demo: DemoStudy, finished: AugmentOutcome, tmp_path: Path
) -> None:
    def kill_midway(label: str, done: int, total: int) -> None:
        if label.startswith("keep25 seed 0 logreg: cf:search +3: CF"):
            raise Killed

    options = demo.options(tmp_path)
    with pytest.raises(Killed):
        run_study(options, progress=kill_midway)
    journalled = (tmp_path / "journal" / "units.jsonl").read_text().splitlines()
    assert 0 < len(journalled) < 30
    resumed = run_study(options)
    assert resumed.resumed == len(journalled)
    keys = [json.loads(line)["query_id"] for line in (tmp_path / "journal/units.jsonl").open()]
    assert len(keys) == len(set(keys)) == 2 + 2 * 2 * 9
    pd.testing.assert_frame_equal(
        pd.read_csv(resumed.files.results_csv), pd.read_csv(finished.files.results_csv)
    )
    pd.testing.assert_frame_equal(
        pd.read_csv(resumed.files.generated_csv), pd.read_csv(finished.files.generated_csv)
    )


def test_other_options_are_refused_and_more_seeds_extend(
    demo: DemoStudy, finished: AugmentOutcome
) -> None:
    with pytest.raises(OutputError, match="other options"):
        run_study(demo.options(finished.out, margin=0.3))
    extended = run_study(demo.options(finished.out, keep=(0.25,), seeds=1, methods=(), rows=(3,)))
    assert extended.resumed == 1 + 1 + 2  # full, scarce, smote and oversample at 3 rows
    assert [row["arm"] for row in extended.summary] == ["scarce", "smote", "oversample", "full"]
    pulled = run_study(
        demo.options(finished.out, keep=(0.25,), seeds=1, rows=(3,), resamplers=(), pull=(0.5, 1))
    )
    assert pulled.resumed == 1 + 1 + 1  # full, scarce, cf:search+pull0.5; only pull 1 is new
    assert [row["arm"] for row in pulled.summary] == [
        "scarce",
        "cf:search+pull0.5",
        "cf:search+pull1",
        "full",
    ]


def test_a_rerun_with_fewer_rows_reports_only_the_cfs_those_rows_used(
    demo: DemoStudy, tmp_path: Path
) -> None:
    small = {"keep": (0.25,), "seeds": 1, "resamplers": ("smote",), "pull": (0.0,)}
    first = run_study(demo.options(tmp_path, rows=(3,), **small))
    reference = first.files.generated_csv.read_bytes()
    run_study(demo.options(tmp_path, rows=(3, 40), **small))
    assert len(pd.read_csv(first.files.generated_csv)) > len(pd.read_csv(io.BytesIO(reference)))
    again = run_study(demo.options(tmp_path, rows=(3,), **small))
    assert again.files.generated_csv.read_bytes() == reference


def _abnormal_answer(person: dict[str, Any]) -> str:
    return json.dumps(
        {
            "mean_glucose": person["mean_glucose"] + 35,
            "hba1c": person["hba1c"] + 1.2,
            "rationale": "higher glucose",
        }
    )


def test_the_agent_arm_runs_through_run_agent_on_the_scarce_rows(
    demo: DemoStudy, tmp_path: Path
) -> None:
    cf_spec = augmentation_spec(demo.spec, 1)
    proposer = LLMProposer(
        ScriptedBackend([_abnormal_answer]),
        cf_spec,
        load_prompt("zero_shot"),
        load_prompt("revise"),
    )
    options = demo.options(tmp_path, keep=(0.5,), seeds=1, methods=("scripted",), rows=(2,))
    outcome = run_study(options, proposers={"scripted": proposer})
    run_dir = tmp_path / "runs" / "keep50-seed0-from0"
    records = [json.loads(line) for line in (run_dir / "scripted.jsonl").open()]
    assert len(records) == 2
    data = pd.read_csv(run_dir / "data.csv")
    assert list(data["person_id"][:2]) == [r["query_id"] for r in records]
    assert set(data["person_id"]) <= set(demo.train["person_id"])
    assert (data.iloc[:2]["abnormal_glucose"] == 0).all()
    generated = pd.read_csv(outcome.files.generated_csv)
    assert set(generated["source_id"]) <= {r["query_id"] for r in records}
    assert set(generated["source"]) <= {"scripted", "refine"}
    assert generated["used"].all()
    cf_unit = pd.read_csv(outcome.files.results_csv).query("arm == 'cf:scripted'")
    assert cf_unit["rows_added"].tolist() == [min(2, len(generated))]


def test_a_low_yield_method_asks_for_enough_sources_at_once(
    demo: DemoStudy, tmp_path: Path
) -> None:
    """After the first chunk, each chunk asks for the rows still missing at the method's yield
    so far, not for the few rows still missing: a method that rarely passes goes through its
    sources CHUNK at a time instead of crawling through one tiny chunk per missing row."""
    cf_spec = augmentation_spec(demo.spec, 1)
    backend = ScriptedBackend((["no idea"] * 3 + [_abnormal_answer]) * 200)  # 1 prompt in 4
    proposer = LLMProposer(backend, cf_spec, load_prompt("zero_shot"), load_prompt("revise"))
    options = demo.options(tmp_path, keep=(0.5,), seeds=1, methods=("scripted",), rows=(6,))
    outcome = run_study(options, proposers={"scripted": proposer})
    added = pd.read_csv(outcome.files.results_csv).query("arm == 'cf:scripted'")["rows_added"]
    assert 0 < added.item() < 6  # the sources ran out: every chunk below was needed
    runs = tmp_path / "runs"
    starts = sorted(int(d.name.rsplit("from", 1)[1]) for d in runs.iterdir())
    sizes = [
        len((runs / f"keep50-seed0-from{start}" / "scripted.jsonl").read_text().splitlines())
        for start in starts
    ]
    assert sizes[0] == 6 and all(size == CHUNK for size in sizes[1:-1]), sizes
    assert starts == [sum(sizes[:i]) for i in range(len(sizes))]
    assert len(backend.prompts) == sum(sizes) > 100


def test_chunk_size_follows_the_yield_so_far() -> None:
    assert chunk_size(missing=6, used=0, tried=0) == 6  # first chunk: one row per source
    assert chunk_size(missing=40, used=0, tried=0) == CHUNK
    assert chunk_size(missing=4, used=0, tried=6) == CHUNK  # nothing passed yet
    assert chunk_size(missing=2, used=4, tried=8) == 4  # one in two passes
    assert chunk_size(missing=3, used=3, tried=3) == 3  # every source passes
    assert chunk_size(missing=5, used=1, tried=7) == CHUNK  # 35 capped
