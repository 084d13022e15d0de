"""The compact prompt for small models: a shared prefix (task + feature table) computed once per
run, then about 150 tokens per person; measured with the embedded model's own tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer
from world import World

from cf_agent.models.llm.embedded import embedded_model_dir
from cf_agent.models.llm.proposer import render_request
from cf_agent.models.registry import default_prompt
from cf_agent.prompts.render import load_prompts
from cf_agent.proposers import CFRequest, ChatMessage
from cf_agent.tools.sensitivity import probe_moves


@pytest.fixture(scope="module")
def tokenizer() -> AutoTokenizer:
    return AutoTokenizer.from_pretrained(embedded_model_dir(), local_files_only=True)


def _rendered(world: World, row: dict[str, Any], revise: bool = False) -> list[ChatMessage]:
    initial, revise_template = load_prompts("compact")
    request = CFRequest(
        query_id="p",
        row=row,
        current_class=1,
        desired_class=world.spec.desired_class,
        probes=probe_moves(world.bundle, world.spec, row, top=4),
    )
    if revise:
        previous = {**row, "steps": row["steps"] + 500}
        request = request.model_copy(
            update={
                "previous": previous,
                "feedback": "- p(normal) is 0.31, needs > 0.50: change more",
            }
        )
    return render_request(world.spec, initial, revise_template, request)[1]


def _tokens(tokenizer: AutoTokenizer, messages: list[ChatMessage]) -> int:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_compact_is_the_embedded_default_and_names_its_revise_template() -> None:
    assert default_prompt("embedded") == default_prompt("embedded-base") == "compact"
    assert default_prompt("openai:gpt-4o") == "zero_shot"
    initial, revise = load_prompts("compact")
    assert revise.name == "compact_revise" and initial.revise == "compact_revise"
    assert load_prompts("zero_shot")[1].name == "revise"


def test_system_message_is_shared_and_the_person_part_is_short(
    world: World, tokenizer: AutoTokenizer
) -> None:
    rows = world.cohort.frame[world.spec.feature_names].head(2).to_dict(orient="records")
    first, second = (_rendered(world, row) for row in rows)
    assert first[0] == second[0], "the system message (feature table) must be the shared prefix"
    system = _tokens(tokenizer, first[:1])
    for messages in (first, _rendered(world, rows[0], revise=True)):
        whole = _tokens(tokenizer, messages)
        assert whole - system <= 170, whole - system
        assert whole <= 520, whole
    assert "steps" in first[0]["content"] and "fixed:" in first[0]["content"]
    assert "->" in first[1]["content"]  # the probes: now -> half/full


def test_probes_never_show_a_multi_feature_counterfactual(world: World) -> None:
    row = world.query()
    probes = probe_moves(world.bundle, world.spec, row, top=20)
    assert probes.moves, "the world's classifier responds to steps"
    assert probes.moves[0].feature == "steps" and probes.moves[0].to > row["steps"]
    # Each probe moves one feature, one way; best first by p after the full move.
    assert len({(m.feature, m.to > m.now) for m in probes.moves}) == len(probes.moves)
    p = [m.p_after for m in probes.moves]
    assert p == sorted(p, reverse=True)
    assert all(m.p_after > probes.p_now for m in probes.moves)


def test_an_adapter_gets_the_prompt_it_was_fine_tuned_on(tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "card.json").write_text('{"prompts": {"compact": "a", "compact_revise": "b"}}')
    assert default_prompt(f"hf:some/model@{adapter}") == "compact"
    assert default_prompt(f"hf:some/model@{tmp_path / 'no-card'}") == "zero_shot"
    (adapter / "card.json").write_text("not json")
    assert default_prompt(f"hf:some/model@{adapter}") == "zero_shot"
    assert default_prompt("hf:some/model") == "zero_shot"
