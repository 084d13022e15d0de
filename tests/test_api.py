"""The Python API: CFAgent(spec, classifier).fit(train).explain(people), pandas in and out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from scripted import ScriptedBackend, more_steps
from sklearn.exceptions import NotFittedError
from world import World

from cf_agent import CFAgent
from cf_agent.audit.store import AuditStore
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.prompts.render import load_prompt

ROOT = Path(__file__).parents[1]


def scripted(world: World) -> LLMProposer:
    backend = ScriptedBackend([more_steps(3000)])
    return LLMProposer(backend, world.spec, load_prompt("zero_shot"), load_prompt("revise"))


def test_explain_a_frame_with_a_fitted_estimator(world: World, tmp_path: Path) -> None:
    frame = world.cohort.frame
    agent = CFAgent(world.spec, world.bundle.estimator, proposer=scripted(world), n=4)
    result = agent.fit(frame).explain(frame)

    assert result.people is not None and len(result.people) == 4
    assert result.summary.success_rate == 1.0
    for cf in result.counterfactuals:
        assert cf.values["steps"] >= 8000 and cf.source == "scripted"
        assert set(cf.verdicts) == {"classifier", "actionability", "plausibility"}
        assert all(v.passed for v in cf.verdicts.values())
        assert cf.changes["steps"]["delta"] == 3000
    table = result.to_frame()
    assert list(table["query_id"]) == [p.query_id for p in result.people]
    assert table["cf_steps"].min() >= 8000 and "plausibility_score" in table
    assert result.provenance.audit_db is None and result.out is None  # nothing left behind
    assert result.provenance.data_hash and result.provenance.classifier.kind == "external"


def test_a_frame_without_id_or_label_uses_its_index(world: World) -> None:
    people = world.cohort.frame.drop(columns=[world.spec.id_column, world.spec.label])
    people.index = [f"row{i}" for i in range(len(people))]
    agent = CFAgent(world.spec, world.bundle.estimator, proposer=scripted(world), n=2)
    result = agent.fit(world.cohort.frame).explain(people)
    assert result.people is not None
    assert all(p.query_id.startswith("row") for p in result.people)


def test_files_and_a_bundle_run_as_the_cli_does(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    out, audit = tmp_path / "results.jsonl", tmp_path / "log.db"
    agent = CFAgent(world.spec_path, model_dir, proposer=scripted(world), n=3)
    result = agent.fit(world.data).explain(out=out, audit=audit, records=False)

    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["counterfactuals"]
    assert result.people is None and result.summary.queries == 3
    with pytest.raises(ValueError, match="records=False"):
        result.to_frame()
    run = AuditStore(audit).runs()[-1]
    assert run.run_id == result.provenance.run_id
    # The file names are recorded, so `cf-agent tui` can re-check the run's CFs later.
    assert run.config["data"] == str(world.data) and run.config["model_dir"] == str(model_dir)


def test_settings_are_validated_with_the_cli_limits(world: World) -> None:
    for bad in ({"margin": 1.0}, {"k": 0}, {"max_rounds": 21}, {"temperature": 0.3}):
        with pytest.raises(ValidationError):
            CFAgent(world.spec, world.bundle.estimator, **bad)


def test_explain_before_fit_is_refused(world: World) -> None:
    with pytest.raises(NotFittedError, match="fit"):
        CFAgent(world.spec, world.bundle.estimator).explain(world.cohort.frame)


def test_import_stays_light() -> None:
    code = (
        "import sys, cf_agent; from cf_agent import CFAgent; "
        "print(sorted(m for m in ('torch', 'transformers', 'langgraph') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_docs_example_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs/examples/notebook.py"), "search"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "plausibility_score" in done.stdout and "run " in done.stdout
