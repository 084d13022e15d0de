"""`run_agent` end to end against a real OpenAI-compatible server (llama.cpp) on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from llm_server import (
    MODEL_ALIAS,
    llama_server,
    require_llama_server,
    run_on_server,
    smollm2_gguf,
)
from world import World

from cf_agent.audit.store import AuditStore

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    require_llama_server()
    with llama_server(smollm2_gguf(), n_ctx=4096, n_threads=1) as url:
        yield url


def test_openai_backend_runs_the_whole_loop(
    world: World,
    model_dir: Path,
    server_url: str,
    tmp_path: Path,
) -> None:
    out = tmp_path / "results.jsonl"
    outcome = run_on_server(world, model_dir, server_url, out, api_key="sk-test-SECRET-e2e")
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 1
    for record in records:
        assert record["status"] in ("accepted", "gave_up")
        assert record["llm_calls"] >= 1
        for cf in record["counterfactuals"]:
            assert all(v["passed"] for v in cf["verdicts"].values())
    store = AuditStore(outcome.audit_db)
    proposals = store.events(run_id=outcome.run_id, type="proposal")
    assert proposals and all(p.payload["source"] == f"openai:{MODEL_ALIAS}" for p in proposals)
    assert any(p.payload["raw_output"] for p in proposals)
    raw = outcome.audit_db.read_bytes() + out.read_bytes()
    assert b"SECRET-e2e" not in raw
