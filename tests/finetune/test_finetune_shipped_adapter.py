"""`embedded` is the embedded model with the shipped adapter; `embedded-base` is the raw model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cf_agent.agent.queries import plan_queries
from cf_agent.agent.runner import build_verifiers
from cf_agent.data.cohort import load_cohort
from cf_agent.data.demo import write_demo
from cf_agent.data.spec import load_spec
from cf_agent.finetune.examples import PromptRenderer
from cf_agent.finetune.options import FinetuneOptions
from cf_agent.models.classifier import load_bundle
from cf_agent.models.llm import local
from cf_agent.models.llm.embedded import LocalModelError
from cf_agent.models.llm.local import EMBEDDED_ADAPTER_DIR, TransformersBackend
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.models.registry import load_backend
from cf_agent.prompts.render import load_prompts
from cf_agent.services import train_and_save
from cf_agent.tools.verifiers import Verifiers


def test_shipped_adapter_has_weights_and_a_card() -> None:
    names = {p.name for p in EMBEDDED_ADAPTER_DIR.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "card.json", "README.md"} <= names
    card = json.loads((EMBEDDED_ADAPTER_DIR / "card.json").read_text())
    assert card["base_model"] == "embedded-base"
    assert card["sources"] == ["probes"] and card["examples"]["revise"] > 0
    curve = card["training"]["validity"]
    assert curve and card["training"]["best_step"] in [step for step, _ in curve]


def test_finetune_defaults_are_the_shipped_adapters_recipe() -> None:
    """One documented command: `cf-agent finetune` with its defaults makes the shipped adapter."""
    card = json.loads((EMBEDDED_ADAPTER_DIR / "card.json").read_text())
    examples = (EMBEDDED_ADAPTER_DIR / "examples.jsonl").read_text().splitlines()
    defaults = FinetuneOptions(data="d", spec="s", model_dir="m", out="o")
    assert defaults.sources == ",".join(card["sources"])
    assert defaults.lora.model_dump(mode="json", exclude={"seed"}) == {
        key: value for key, value in card["settings"].items() if key != "seed"
    }
    assert {json.loads(line)["provenance"]["margin"] for line in examples} == {
        str(defaults.teacher_margin)
    }


def test_missing_shipped_adapter_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(local, "EMBEDDED_ADAPTER_DIR", tmp_path / "gone")

    with pytest.raises(LocalModelError, match="adapter is missing") as caught:
        TransformersBackend.embedded()
    assert "embedded-base" in caught.value.fix


@pytest.mark.slow
def test_embedded_merges_the_shipped_adapter_and_embedded_base_does_not() -> None:
    adapted = load_backend("embedded")
    raw = load_backend("embedded-base")

    assert isinstance(adapted, TransformersBackend) and isinstance(raw, TransformersBackend)
    assert (adapted.model_string, adapted.adapter_path) == ("embedded", EMBEDDED_ADAPTER_DIR)
    assert (raw.model_string, raw.adapter_path) == ("embedded-base", None)
    last = len(raw.model_.model.layers) - 1
    assert not torch.equal(
        adapted.model_.model.layers[last].self_attn.q_proj.weight,
        raw.model_.model.layers[last].self_attn.q_proj.weight,
    )


@pytest.mark.slow
def test_shipped_adapter_beats_the_base_on_held_out_people(tmp_path: Path) -> None:
    """First-proposal validity on 20 people of the seed-0 demo cohort (the adapter learnt from
    a seed-1 cohort and its own classifier). Issue 15 asks for a lead of 0.3; the shipped
    adapter leads by 0.45 (0.15 -> 0.60; docs/finetune.md)."""
    files = write_demo(tmp_path / "data", n=2000, seed=0)
    train_and_save(files.csv, files.spec, tmp_path / "model", "gbm", 0.25, 0)
    spec = load_spec(files.spec)
    cohort = load_cohort(files.csv, spec)
    bundle = load_bundle(tmp_path / "model", spec)
    verifiers = build_verifiers(spec, bundle, cohort, tmp_path / "model", 0.0)
    people = plan_queries(cohort, bundle, 20)
    initial, revise = load_prompts("compact")
    renderer = PromptRenderer(spec, bundle, initial, revise)
    requests = [renderer.request(q) for q in people]

    def validity(model: str) -> float:
        proposer = LLMProposer(load_backend(model), spec, initial, revise)
        proposals = proposer.propose(requests)
        return sum(
            p.values is not None and Verifiers.all_passed(verifiers.check(q.row, p.values))
            for q, p in zip(people, proposals, strict=True)
        ) / len(people)

    base, adapted = validity("embedded-base"), validity("embedded")
    assert adapted >= base + 0.3, (base, adapted)
