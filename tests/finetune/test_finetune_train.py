"""LoRA training on the real embedded model, on CPU: labels, steps, and the adapter's effect."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

from cf_agent.finetune.batches import IGNORE_INDEX, encode, forward, shared_prefix, tails
from cf_agent.finetune.examples import TrainingExample
from cf_agent.finetune.train import LoraSettings, load_trainable, train_lora
from cf_agent.models.llm.embedded import embedded_model_dir
from cf_agent.models.llm.local import TransformersBackend

ANSWER = '{"steps":9100,"rationale":"Steps +3,000 steps/day."}'
SCHEMA = {
    "type": "object",
    "properties": {
        "steps": {"type": "integer", "minimum": 0, "maximum": 40000},
        "rationale": {"type": "string", "maxLength": 80},
    },
    "required": ["rationale"],
    "additionalProperties": False,
}


def example(person: str, steps: int) -> TrainingExample:
    return TrainingExample(
        person_id=person,
        split="train",
        round="initial",
        messages=[
            {"role": "system", "content": "You answer with one JSON object."},
            {"role": "user", "content": f'Person: {{"steps": {steps}}}. Propose a change.'},
        ],
        answer=ANSWER,
        provenance={"kind": "test", "method": "fixed"},
    )


@pytest.mark.slow
def test_labels_cover_only_the_answer_and_its_end_of_turn_token() -> None:
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
    encoded = encode(tokenizer, example("p1", 6100))

    answer = [t for t in encoded.labels if t != IGNORE_INDEX]
    assert tokenizer.decode(answer) == ANSWER + tokenizer.eos_token
    assert encoded.input_ids[-len(answer) :] == answer
    full = tokenizer.apply_chat_template(
        [*example("p1", 6100).messages, {"role": "assistant", "content": ANSWER}], tokenize=False
    )
    assert full.startswith(tokenizer.decode(encoded.input_ids))  # the chat format's own turn


@pytest.mark.slow
def test_a_few_cpu_steps_give_an_adapter_that_loads_and_changes_the_output(
    tmp_path: Path,
) -> None:
    train = [example(f"p{i}", 5000 + 100 * i) for i in range(4)]
    settings = LoraSettings(
        rank=8, alpha=16, top_layers=4, learning_rate=1e-2, batch_size=2, epochs=3
    )

    report = train_lora(str(embedded_model_dir()), train, train[:2], settings, tmp_path, "cpu")

    assert {p.name for p in tmp_path.iterdir()} >= {
        "adapter_config.json",
        "adapter_model.safetensors",
    }
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["layers_to_transform"] == [26, 27, 28, 29]
    assert report.steps == 6 and len(report.losses) == 6
    assert report.device == "cpu" and report.quantization == "none"
    assert report.val_loss_before is not None and report.val_loss_after is not None
    assert report.val_loss_after < report.val_loss_before
    assert report.tokens_per_second > 0

    prompt = [example("p9", 5300).messages]
    base = TransformersBackend("hf:base", embedded_model_dir())
    adapted = TransformersBackend("hf:adapted", embedded_model_dir(), adapter_path=tmp_path)
    [before] = base.generate(prompt, SCHEMA, max_new_tokens=8)
    [after] = adapted.generate(prompt, SCHEMA, max_new_tokens=8)
    assert after.text != before.text
    assert after.text.startswith('{"steps":9100')  # it learnt the answer it was shown
    assert not torch.equal(
        adapted.model_.model.layers[29].self_attn.q_proj.weight,
        base.model_.model.layers[29].self_attn.q_proj.weight,
    )


@pytest.mark.slow
def test_training_stops_when_validity_stops_improving_and_keeps_the_best(
    tmp_path: Path,
) -> None:
    train = [example(f"p{i}", 5000 + 100 * i) for i in range(4)]
    settings = LoraSettings(
        rank=4,
        top_layers=2,
        learning_rate=1e-2,
        batch_size=2,
        max_steps=8,
        eval_every=1,
        patience=2,
    )
    scores = iter([0.5, 0.2, 0.1, 0.9])
    first = tmp_path / "first"

    def validity(adapter: Path) -> float:
        if not first.exists():
            shutil.copytree(adapter, first)
        return next(scores)

    out = tmp_path / "out"
    report = train_lora(
        str(embedded_model_dir()), train, train[:2], settings, out, "cpu", validity=validity
    )

    assert report.validity == [(1, 0.5), (2, 0.2), (3, 0.1)]
    assert report.stopped_early and report.best_step == 1
    assert report.steps == len(report.losses) == 3  # stopped after step 3 of 8
    kept = load_file(str(out / "adapter_model.safetensors"))
    best = load_file(str(first / "adapter_model.safetensors"))
    assert kept.keys() == best.keys()
    assert all(torch.equal(kept[k], best[k]) for k in kept)


@pytest.mark.slow
def test_the_shared_prefix_cache_gives_the_same_loss_as_whole_prompts() -> None:
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
    encoded = [encode(tokenizer, example(f"p{i}", 5000 + 100 * i)) for i in range(3)]
    prefix = shared_prefix(encoded)
    assert len(prefix) > 10  # the system message and the start of the user turn
    model = load_trainable(str(embedded_model_dir()), LoraSettings(rank=4), "cpu")[0]
    model.eval()
    with torch.no_grad():
        whole, n_whole, _ = forward(model, encoded, [], int(tokenizer.eos_token_id), "cpu")
        own = tails(encoded, prefix)
        cached, n_cached, _ = forward(model, own, prefix, int(tokenizer.eos_token_id), "cpu")
    assert n_whole == n_cached
    assert float(whole) == pytest.approx(float(cached), rel=1e-4)
