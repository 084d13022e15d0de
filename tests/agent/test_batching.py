"""Parallel queries and micro-batched proposals: same results, bigger batches, one audit chain."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from scripted import ScriptedBackend, more_steps
from world import World

from cf_agent.agent.batching import BatchingProposer
from cf_agent.agent.runner import RunOptions, run_agent
from cf_agent.audit.store import AuditStore
from cf_agent.models.llm.base import Generation, Schemas
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.prompts.render import load_prompt
from cf_agent.proposers import CFRequest, ChatMessage, Proposal


class EchoProposer:
    """Answers each request with its own query id, and records the size of every call."""

    name = "echo"
    is_llm = True

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[int] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def propose(self, requests: Sequence[CFRequest]) -> list[Proposal]:
        with self.lock:
            self.calls.append(len(requests))
        if any(r.query_id == self.fail_on for r in requests):
            raise RuntimeError("backend down")
        return [Proposal(values=None, source="echo", raw_output=r.query_id) for r in requests]


def request(query_id: str) -> CFRequest:
    return CFRequest(query_id=query_id, row={}, current_class=1, desired_class=0)


def run_workers(batching: BatchingProposer, n_workers: int, rounds: int) -> dict[str, list[str]]:
    answers: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for i in range(rounds):
                asked = [request(f"{name}-{i}-{j}") for j in range(2)]
                got = batching.propose(asked)
                answers.setdefault(name, []).extend(p.raw_output for p in got)
        except BaseException as exc:
            errors.append(exc)
        finally:
            batching.retire_worker()

    batching.add_workers(n_workers)
    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(n_workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    if errors:
        raise errors[0]
    return answers


def test_concurrent_callers_share_batches_and_get_their_own_answers() -> None:
    inner = EchoProposer()
    answers = run_workers(BatchingProposer(inner, max_batch=8), n_workers=4, rounds=3)

    for name, got in answers.items():
        assert got == [f"{name}-{i}-{j}" for i in range(3) for j in range(2)]
    assert sum(inner.calls) == 4 * 3 * 2
    assert max(inner.calls) == 8  # all four workers' pairs went out together
    assert len(inner.calls) < 12  # fewer calls than one per caller


def test_batch_never_exceeds_max_batch_and_a_lone_caller_is_not_held() -> None:
    inner = EchoProposer()
    run_workers(BatchingProposer(inner, max_batch=4), n_workers=4, rounds=2)
    assert max(inner.calls) <= 4

    alone = EchoProposer()
    got = BatchingProposer(alone, max_batch=8).propose([request("solo")])
    assert [p.raw_output for p in got] == ["solo"] and alone.calls == [1]


def test_a_failing_batch_reaches_its_callers() -> None:
    batching = BatchingProposer(EchoProposer(fail_on="w0-0-0"), max_batch=8)
    with pytest.raises(RuntimeError, match="backend down"):
        run_workers(batching, n_workers=2, rounds=1)


class CountingBackend(ScriptedBackend):
    """A scripted backend that serves several queries at once and records its batch sizes."""

    def __init__(self, answers: list[Any], parallel_queries: int) -> None:
        super().__init__(answers)
        self.parallel_queries = parallel_queries
        self.batches: list[int] = []

    def generate(
        self,
        conversations: Sequence[Sequence[ChatMessage]],
        json_schema: Schemas = None,
        max_new_tokens: int = 256,
    ) -> list[Generation]:
        self.batches.append(len(conversations))
        return super().generate(conversations, json_schema, max_new_tokens)


def run_with(world: World, model_dir: Path, out: Path, parallel: int) -> tuple[Any, list[int]]:
    backend = CountingBackend([more_steps(4000)], parallel_queries=parallel)
    proposer = LLMProposer(backend, world.spec, load_prompt("zero_shot"), load_prompt("revise"))
    options = RunOptions(
        data=world.data, spec=world.spec_path, model_dir=model_dir, out=out, n=8, model="scripted"
    )
    return run_agent(options, proposer=proposer), backend.batches


def comparable(path: Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for record in records:
        record.pop("seconds")
    return records


def test_parallel_run_matches_sequential_run_with_batched_proposals(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    one, one_batches = run_with(world, model_dir, tmp_path / "one" / "r.jsonl", parallel=1)
    four, four_batches = run_with(world, model_dir, tmp_path / "four" / "r.jsonl", parallel=4)

    assert comparable(one.out) == comparable(four.out)  # same rows, same plan order
    assert max(one_batches) == 1 and max(four_batches) == 4
    assert sum(four_batches) == sum(one_batches)
    assert four.summary.wall_seconds_per_cf is not None
    store = AuditStore(four.audit_db)
    assert store.verify().ok
    outcomes = [e.query_id for e in store.events(run_id=four.run_id, type="accepted")]
    assert sorted(outcomes) == sorted(r["query_id"] for r in comparable(four.out))
    assert len(outcomes) == 8
