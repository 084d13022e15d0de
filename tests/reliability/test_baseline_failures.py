"""A baseline library that fails never takes an evaluation down.

The all-float cohort is the case found in the field: under pandas 3 copy-on-write, `to_numpy()`
of an all-float frame is a read-only view and NICEx cast it in place (`ValueError: assignment
destination is read-only`). Every baseline runs on such a cohort here. A library that raises
for the whole method (not just one person) becomes that method's failure: its reason is in the
report, the other methods' results are kept, and a rerun tries the failed method again.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import tomli_w

from cf_agent.data.demo import write_demo
from cf_agent.eval import EvalOptions, evaluate
from cf_agent.models.baselines import BASELINE_METHODS
from cf_agent.proposers import CFRequest, Proposal
from cf_agent.services import train_and_save


@dataclass(frozen=True)
class FloatCohort:
    data: Path
    spec: Path
    model: Path


def all_float_cohort(root: Path) -> FloatCohort:
    """The demo cohort cut down to its float features (and the rule that relates two of them)."""
    files = write_demo(root / "demo", n=240, seed=11)
    spec = tomllib.loads(files.spec.read_text(encoding="utf-8"))
    spec["features"] = [f for f in spec["features"] if f["kind"] == "float"]
    names = {f["name"] for f in spec["features"]}
    spec["rules"] = [r for r in spec["rules"] if {r.get("left"), r.get("right")} <= names]
    spec["other_columns"] = []
    frame = pd.read_csv(files.csv)
    columns = [spec["id_column"], *(f["name"] for f in spec["features"]), spec["label"]]
    data, spec_path = root / "float.csv", root / "float.toml"
    frame[columns].to_csv(data, index=False)
    spec_path.write_text(tomli_w.dumps(spec), encoding="utf-8")
    train_and_save(data, spec_path, root / "model", "logreg", 0.25, 0)
    return FloatCohort(data, spec_path, root / "model")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> FloatCohort:
    return all_float_cohort(tmp_path_factory.mktemp("float-cohort"))


def eval_options(cohort: FloatCohort, out: Path, methods: Sequence[str]) -> EvalOptions:
    return EvalOptions(
        data=cohort.data, spec=cohort.spec, model_dir=cohort.model, out=out,
        methods=tuple(methods), n=2, k=1, time_limit_s=5.0, cfnow_seconds=0.3,
    )  # fmt: skip


def test_every_baseline_runs_on_an_all_float_cohort(cohort: FloatCohort, tmp_path: Path) -> None:
    frame = pd.read_csv(cohort.data)
    assert all(frame[c].dtype == float for c in frame.columns[1:-1]), "the cohort is all float"

    outcome = evaluate(eval_options(cohort, tmp_path / "eval", BASELINE_METHODS))

    assert outcome.failed == {}
    assert [s.method for s in outcome.summaries] == list(BASELINE_METHODS)
    rows = pd.read_csv(outcome.files.rows_csv)
    errors = rows["error"].dropna().astype(str)
    crashed = [e for e in errors if " failed: " in e]
    assert crashed == [], "no library raised for any person"
    nice = rows[rows["method"] == "nice"]
    assert len(nice) == 2 and nice["returned"].all(), "NICE returns a CF for each person"


class BrokenLibrary:
    """A baseline whose library raises for everyone, as NICEx did on the all-float cohort."""

    name = "nice"
    is_llm = False

    def propose(self, requests: Sequence[CFRequest]) -> list[Proposal]:
        raise ValueError("assignment destination is read-only")


def test_a_failing_library_is_a_method_failure_in_the_report_and_is_retried(
    cohort: FloatCohort, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    options = eval_options(cohort, out, ("search", "nice"))

    outcome = evaluate(options, proposers={"nice": BrokenLibrary()})

    reason = "nice failed: ValueError: assignment destination is read-only"
    assert outcome.failed == {"nice": reason}
    assert [s.method for s in outcome.summaries] == ["search", "nice"]
    by_method = {s.method: s for s in outcome.summaries}
    assert by_method["nice"].returned == 0 and by_method["nice"].queries == 2
    assert by_method["search"].returned == 2, "the other method's results are kept"
    report = outcome.files.markdown.read_text(encoding="utf-8")
    assert f"| nice | 2 | {reason} |" in report, "the reason is in the empty-slots table"
    assert not (out / "journal" / "nice.jsonl").exists(), "a failure is not journalled"

    again = evaluate(options)  # the library works now: only nice runs, the rest resume

    assert again.failed == {} and again.resumed == 2
    assert {s.method: s.returned for s in again.summaries}["nice"] == 2
