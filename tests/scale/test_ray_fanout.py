"""Ray fan-out on a local 2-CPU Ray: same results as one process, every person exactly once,
a dead worker's shard retried without duplicates, a failed shard resumed on rerun."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cf_agent.agent.queries import plan_queries
from cf_agent.agent.runner import RunOptions, run_agent
from cf_agent.audit.store import AuditStore
from cf_agent.data.cohort import load_cohort
from cf_agent.data.demo import write_demo
from cf_agent.data.spec import load_spec
from cf_agent.errors import CfAgentError, OutputError
from cf_agent.models.classifier import load_bundle
from cf_agent.proposers import CFRequest, Proposal, Proposer
from cf_agent.scale.proposers import BaselineFactory
from cf_agent.scale.ray_fanout import PLAN_FILE, run_on_ray, work_dir_for
from cf_agent.services import train_and_save

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

pytestmark = pytest.mark.slow  # starts Ray and its worker processes

N_PEOPLE = 8
DICE = BaselineFactory("dice-random", time_limit_s=20.0)


class FaultyProposer:
    """Dies (os._exit) or raises on one person, once: the fault a real worker may meet."""

    is_llm = False

    def __init__(self, inner: Proposer, query_id: str, marker: Path, mode: str) -> None:
        self.inner, self.query_id, self.marker, self.mode = inner, query_id, marker, mode
        self.name = inner.name

    def propose(self, requests: Sequence[CFRequest]) -> list[Proposal]:
        if any(r.query_id == self.query_id for r in requests) and not self.marker.exists():
            self.marker.write_text("fault injected\n")
            if self.mode == "exit":
                os._exit(1)
            raise RuntimeError(f"injected failure on person {self.query_id}")
        return self.inner.propose(requests)


@dataclass(frozen=True)
class FaultOnceFactory:
    query_id: str
    marker: Path
    mode: str

    def __call__(self, options: RunOptions) -> Proposer:
        return FaultyProposer(DICE(options), self.query_id, self.marker, self.mode)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("fanout")
    files = write_demo(root / "data", n=600, seed=0)
    train_and_save(files.csv, files.spec, root / "model", "logreg", 0.25, 0)
    spec = load_spec(files.spec)
    cohort = load_cohort(files.csv, spec)
    planned = plan_queries(cohort, load_bundle(root / "model", spec), N_PEOPLE)
    single = _options(root, files.csv, files.spec, root / "single" / "results.jsonl")
    run_agent(single, proposer=DICE(single))
    return {
        "root": root,
        "csv": files.csv,
        "spec": files.spec,
        "planned": [q.query_id for q in planned],
        "single": _records(single.out),
    }


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """One local Ray for the module; workers can import this file's fault-injecting factory."""
    with pytest.MonkeyPatch.context() as patch:
        path = os.pathsep.join([str(Path(__file__).parent), *sys.path])
        patch.setenv("PYTHONPATH", path)
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 1024**2)
    yield
    ray.shutdown()


def _options(root: Path, csv: Path, spec: Path, out: Path) -> RunOptions:
    return RunOptions(
        data=csv,
        spec=spec,
        model_dir=root / "model",
        out=out,
        n=N_PEOPLE,
        max_rounds=1,
    )


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _without_timing(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in r.items() if key != "seconds"} for r in records]


def _outcome_events(audit_db: Path) -> Counter[str]:
    with AuditStore(audit_db) as audit:
        assert audit.verify().ok
        return Counter(str(e.query_id) for e in audit.events() if e.type in ("accepted", "gave_up"))


def test_fanout_matches_a_single_process_run(world: dict[str, Any], ray_session: None) -> None:
    out = world["root"] / "fanout" / "results.jsonl"
    options = _options(world["root"], world["csv"], world["spec"], out)

    outcome = run_on_ray(options, workers=2, proposer_factory=DICE)

    merged = _records(out)
    assert [r["query_id"] for r in merged] == world["planned"]
    assert _without_timing(merged) == _without_timing(world["single"])
    assert len(outcome.shard_run_ids) == 2 and all(outcome.shard_run_ids)
    assert outcome.summary.queries == N_PEOPLE
    assert _outcome_events(outcome.audit_db) == Counter(world["planned"])
    assert not (work_dir_for(out) / PLAN_FILE).exists()


def test_a_dead_worker_is_retried_without_duplicates(
    world: dict[str, Any], ray_session: None
) -> None:
    out = world["root"] / "crash" / "results.jsonl"
    options = _options(world["root"], world["csv"], world["spec"], out)
    marker = out.parent / "crashed"
    # The third person of a shard: its first two are journalled before the worker dies.
    victim = world["planned"][4]

    factory = FaultOnceFactory(victim, marker, "exit")
    outcome = run_on_ray(options, workers=2, proposer_factory=factory)

    assert marker.exists()
    merged = _records(out)
    assert [r["query_id"] for r in merged] == world["planned"]
    assert _without_timing(merged) == _without_timing(world["single"])
    assert _outcome_events(outcome.audit_db) == Counter(world["planned"])


def test_a_failed_shard_resumes_on_rerun_and_finished_shards_are_kept(
    world: dict[str, Any], ray_session: None
) -> None:
    out = world["root"] / "resume" / "results.jsonl"
    options = _options(world["root"], world["csv"], world["spec"], out)
    marker = out.parent / "failed"
    victim = world["planned"][5]  # second shard (round-robin), third person

    with pytest.raises(CfAgentError, match="injected failure") as failure:
        run_on_ray(options, workers=2, proposer_factory=FaultOnceFactory(victim, marker, "raise"))
    assert "rerun the same command" in (failure.value.fix or "")
    assert not out.exists()
    finished_shard = work_dir_for(out) / "shard-000.jsonl"
    assert finished_shard.exists()
    with pytest.raises(OutputError, match="other options or worker count"):
        run_on_ray(options, workers=3, proposer_factory=DICE)

    outcome = run_on_ray(options, workers=2, proposer_factory=DICE)

    assert outcome.resumed_shards == 1
    merged = _records(out)
    assert [r["query_id"] for r in merged] == world["planned"]
    assert _without_timing(merged) == _without_timing(world["single"])
    assert _outcome_events(outcome.audit_db) == Counter(world["planned"])
    with AuditStore(outcome.audit_db) as audit:
        assert len(audit.runs()) == 2  # the failed shard resumed its own run; none restarted


def test_missing_ray_names_the_install_command(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    options = _options(world["root"], world["csv"], world["spec"], world["root"] / "x.jsonl")
    with pytest.raises(CfAgentError, match="needs the Python package 'ray'") as error:
        run_on_ray(options, workers=2)
    assert "pip install" in (error.value.fix or "")


def test_cli_run_with_ray_merges_every_person_once(
    world: dict[str, Any], ray_session: None
) -> None:
    """`cf-agent run --ray 2` against an endpoint that refuses every request (HTTP 400, not
    retried): each LLM round fails fast and refinement writes the CFs."""
    from misbehaving_server import misbehaving_server, status
    from typer.testing import CliRunner

    from cf_agent.cli import app

    out = world["root"] / "cli" / "results.csv"
    with misbehaving_server([], default=status(400)) as (base_url, server):
        result = CliRunner().invoke(
            app,
            [
                *("run", "--data", str(world["csv"]), "--spec", str(world["spec"])),
                *("--classifier", str(world["root"] / "model"), "--out", str(out)),
                *("--model", "openai:stub", "--base-url", base_url, "--api-key", "sk-test"),
                *("--n", str(N_PEOPLE), "--max-rounds", "1", "--ray", "2"),
            ],
        )
    assert result.exit_code == 0, result.output
    assert "2 Ray shards" in result.output
    assert server.requests == N_PEOPLE
    rows = [line.split(",")[0] for line in out.read_text(encoding="utf-8").splitlines()[1:]]
    assert rows == world["planned"]
