"""The shipped adapter served by llama.cpp (exported GGUF LoRA) writes the agent's CFs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from llm_server import llama_server, require_llama_server, run_on_server, smollm2_gguf
from world import World

from cf_agent.audit.store import AuditStore
from cf_agent.models.adapter_files import EMBEDDED_ADAPTER_DIR
from cf_agent.models.adapter_gguf import export_adapter_gguf

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def served_adapter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_llama_server()
    lora = tmp_path_factory.mktemp("lora") / "adapter.gguf"
    export_adapter_gguf(EMBEDDED_ADAPTER_DIR, smollm2_gguf(), lora)
    with llama_server(smollm2_gguf(), n_ctx=2048, n_threads=1, lora_path=lora) as url:
        yield url


def test_served_adapter_answers_with_values_first(
    world: World, model_dir: Path, served_adapter: str, tmp_path: Path
) -> None:
    # Before the tool schema kept its property order, llama.cpp's grammar put the required
    # rationale first and the adapter closed the object after it: no values, 0 % success.
    out = tmp_path / "results.jsonl"
    outcome = run_on_server(world, model_dir, served_adapter, out, prompt="compact", n=4)

    proposals = AuditStore(outcome.audit_db).events(run_id=outcome.run_id, type="proposal")
    assert len(proposals) == 4
    for proposal in proposals:
        answer = json.loads(proposal.payload["raw_output"])
        assert proposal.payload["values"] is not None, proposal.payload["error"]
        assert next(iter(answer)) != "rationale"
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sum(r["status"] == "accepted" for r in records) >= 2
