"""Training targets: compact answers the constrained decoder itself could have written."""

from __future__ import annotations

import json

import llguidance
import pytest
from transformers import AutoTokenizer
from world import World

from cf_agent.finetune.answers import answer_text, emittable_cf
from cf_agent.models.llm.answer import parse_answer
from cf_agent.models.llm.constrained import JsonSchemaConstraint
from cf_agent.models.llm.embedded import embedded_model_dir
from cf_agent.models.llm.schema import RATIONALE_MAX_LENGTH, counterfactual_json_schema
from cf_agent.tools.rationale import change_rationale


def person(world: World) -> dict[str, object]:
    return world.query()


def test_answer_names_only_changed_features_in_spec_order_with_decoder_numbers(
    world: World,
) -> None:
    row = person(world)
    cf = emittable_cf(
        world.spec,
        row,
        {**row, "sleep_total_min": row["sleep_total_min"] + 30.4, "steps": row["steps"] + 2500.6},
    )

    answer = json.loads(answer_text(world.spec, row, cf))

    assert list(answer) == ["steps", "sleep_total_min", "rationale"]
    assert answer["steps"] == row["steps"] + 2501 and isinstance(answer["steps"], int)
    assert answer["sleep_total_min"] == row["sleep_total_min"] + 30
    # Directions only: the model reads them off its probes; amounts would need arithmetic.
    assert answer["rationale"] == "Raise steps, raise sleep_total_min."
    assert cf["bmi"] == row["bmi"]  # unchanged features keep the person's exact value


def test_a_sum_rules_total_is_left_to_the_parser(world: World) -> None:
    row = person(world)
    deeper = {**row, "sleep_deep_min": row["sleep_deep_min"] + 20}
    deeper["sleep_total_min"] = row["sleep_total_min"] + 20
    cf = emittable_cf(world.spec, row, deeper)

    text = answer_text(world.spec, row, cf)

    assert list(json.loads(text)) == ["sleep_deep_min", "rationale"]
    parsed = parse_answer(world.spec, row, text)
    assert parsed.values is not None
    assert parsed.values["sleep_total_min"] == row["sleep_total_min"] + 20


def test_rationale_stays_within_the_schema_limit(world: World) -> None:
    row = person(world)
    moved = {
        f.name: float(row[f.name]) + 1
        for f in world.spec.features
        if f.is_numeric and f.actionability == "free"
    }

    text = change_rationale(world.spec, row, {**row, **moved})

    assert len(text) <= RATIONALE_MAX_LENGTH
    assert text.endswith("more.")


@pytest.mark.slow
def test_targets_pass_the_constrained_decoders_grammar(world: World) -> None:
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
    constraint = JsonSchemaConstraint(tokenizer, [tokenizer.eos_token_id])
    grammar = constraint.grammar(counterfactual_json_schema(world.spec))
    row = person(world)
    cf = emittable_cf(
        world.spec, row, {**row, "bmi": row["bmi"] - 1.23456, "steps": row["steps"] + 2000}
    )

    text = answer_text(world.spec, row, cf)
    matcher = llguidance.LLMatcher(constraint.llg_tokenizer_, grammar, log_level=0)

    assert matcher.consume_tokens(tokenizer(text, add_special_tokens=False)["input_ids"]), text
    assert matcher.is_accepting()
