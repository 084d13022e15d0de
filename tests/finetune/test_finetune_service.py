"""`cf-agent finetune` end to end: the adapter dir, its card, nothing half-written on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scripted import ScriptedBackend, more_steps, person_from
from world import World

from cf_agent.agent.queries import Query, plan_queries
from cf_agent.errors import CfAgentError, OutputError
from cf_agent.finetune.compare import ComparisonSettings, compare_models
from cf_agent.finetune.service import FinetuneOptions, finetune
from cf_agent.finetune.train import LoraSettings
from cf_agent.models.adapter_files import verify_adapter
from cf_agent.models.llm.embedded import embedded_model_dir


def walkers(world: World, n: int) -> list[Query]:
    queries = plan_queries(world.cohort, world.bundle, None)
    return [q for q in queries if 5500 <= q.row["steps"] <= 7000][:n]


def run_file(world: World, path: Path, n: int) -> Path:
    lines = [
        json.dumps(
            {
                "query_id": q.query_id,
                "counterfactuals": [
                    {"values": {**q.row, "steps": q.row["steps"] + 3000}, "source": "embedded"}
                ],
            }
        )
        for q in walkers(world, n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def options(world: World, model_dir: Path, tmp_path: Path, **changes: Any) -> FinetuneOptions:
    base = {
        "data": world.data,
        "spec": world.spec_path,
        "model_dir": model_dir,
        "out": tmp_path / "adapter",
        "sources": f"run:{run_file(world, tmp_path / 'results.jsonl', 8)}",
        "val_share": 0.3,
        "revise_share": 0.0,
        "eval_people": 2,
        "compare_n": 0,
        "lora": LoraSettings(top_layers=1, rank=4, batch_size=1, max_steps=1),
        "device": "cpu",
    }
    return FinetuneOptions.model_validate({**base, **changes})


@pytest.mark.slow
def test_finetune_writes_a_complete_adapter_dir_with_its_card(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    outcome = finetune(options(world, model_dir, tmp_path, command="cf-agent finetune ..."))

    out = tmp_path / "adapter"
    names = {p.name for p in out.iterdir()}
    assert names == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "card.json",
        "README.md",
        "examples.jsonl",
    }
    card = json.loads((out / "card.json").read_text())
    assert card["base_model"] == "embedded-base"
    assert card["examples"]["train"] + card["examples"]["val"] == len(
        (out / "examples.jsonl").read_text().splitlines()
    )
    assert card["persons"]["train"] > 0 and card["persons"]["val"] > 0
    assert card["targets_by_source"] == {"embedded": 8}
    assert card["training"]["steps"] == 1 and card["metrics"] is None
    assert card["data_hash"] == outcome.card.data_hash
    assert set(card["adapter_files"]) == {"adapter_model.safetensors", "adapter_config.json"}
    verify_adapter(out)  # the hashes on the card are the files'
    assert "cf-agent finetune ..." in (out / "README.md").read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert oct((out / "adapter_model.safetensors").stat().st_mode & 0o777) == "0o644"

    # The same command again (as after a kill that landed once it had finished) finds it done.
    weights = (out / "adapter_model.safetensors").read_bytes()
    again = finetune(options(world, model_dir, tmp_path, command="cf-agent finetune ..."))
    assert again.already_done and again.card == outcome.card
    assert (out / "adapter_model.safetensors").read_bytes() == weights
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # Other options would make another adapter: refused, not silently kept.
    other = LoraSettings(top_layers=1, rank=4, batch_size=1, max_steps=2)
    with pytest.raises(OutputError, match="already exists"):
        finetune(options(world, model_dir, tmp_path, lora=other))


def test_a_failed_finetune_leaves_no_adapter_dir(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    too_short = LoraSettings(max_length=64, max_steps=1)

    with pytest.raises(CfAgentError, match="exceed 64 tokens"):
        finetune(options(world, model_dir, tmp_path, lora=too_short))

    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.jsonl"]


def test_compare_runs_both_models_on_exactly_the_held_out_people(
    world: World, model_dir: Path
) -> None:
    people = walkers(world, 3)[::-1]  # not in file order: the copy puts them first

    good = ScriptedBackend([more_steps(3000)])
    bad = ScriptedBackend(['{"rationale": "no idea"}'])
    settings = ComparisonSettings(
        data=world.data,
        spec=world.spec_path,
        model_dir=model_dir,
        prompt="zero_shot",  # the scripted model reads the person from this prompt
        max_rounds=1,
    )

    before, after = compare_models(
        settings, world.cohort, [q.query_id for q in people], [("before", bad), ("after", good)]
    )

    assert before.queries == after.queries == 3
    assert before.first_proposal_validity == 0.0 and after.first_proposal_validity == 1.0
    asked = [person_from(prompt)["steps"] for prompt in good.prompts]
    assert sorted(asked) == sorted(q.row["steps"] for q in people)


def test_cli_refuses_an_unknown_source_with_the_data_exit_code(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    args = [
        *("--data", world.data, "--spec", world.spec_path, "--classifier", model_dir),
        *("--out", tmp_path / "adapter", "--sources", "dice-randomm"),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "cf_agent", "finetune", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )

    assert done.returncode == 4, done.stderr
    assert "unknown training-data source 'dice-randomm'" in done.stderr
    assert not (tmp_path / "adapter").exists()


@pytest.mark.slow
def test_revise_examples_continue_the_rejections_of_the_model_named(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    reviser = f"hf:{embedded_model_dir()}"  # the base weights, under a name of their own
    finetune(options(world, model_dir, tmp_path, revise_share=1.0, revise_from=reviser))

    lines = (tmp_path / "adapter" / "examples.jsonl").read_text().splitlines()
    revised = [json.loads(line) for line in lines if json.loads(line)["round"] == "revise"]
    assert revised, "the model passed for every person: no rejection to continue"
    assert {e["provenance"]["previous"] for e in revised} == {f"{reviser} first proposal"}


@pytest.mark.parametrize(
    "model", ["gpt4", "openai:gpt-4o", "hf:", "hf:@adapter", "embedded+refine"]
)
def test_revise_from_takes_only_a_local_model_and_says_so_before_any_work(
    world: World, model_dir: Path, tmp_path: Path, model: str
) -> None:
    with pytest.raises(ValueError, match="is not embedded, embedded-base or hf:"):
        options(world, model_dir, tmp_path, revise_from=model)
