"""The counterfactual JSON schema, and the llguidance logits processor that enforces schemas."""

from __future__ import annotations

import json

import jsonschema
import pytest
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from cf_agent.data.spec import Feature, FeatureSpec
from cf_agent.models.llm.constrained import JsonSchemaConstraint, SchemaLogitsProcessor
from cf_agent.models.llm.embedded import LocalModelError, embedded_gguf_path
from cf_agent.models.llm.schema import (
    RATIONALE_MAX_LENGTH,
    counterfactual_json_schema,
    with_short_numbers,
)
from cf_agent.tools.actionability import feature_violations

PROMPT = torch.tensor([[1, 2, 3]])
VOCAB_SIZE = 49152  # SmolLM2's
ANSWER = {"bmi": 27.5, "steps": 8000, "smoker": 0, "diet": "good", "rationale": "walk daily"}


def small_spec() -> FeatureSpec:
    def feature(name: str, kind: str, **kw: object) -> Feature:
        return Feature.model_validate(
            {"name": name, "kind": kind, "description": f"{name}.", "group": "clinical", **kw}
        )

    return FeatureSpec(
        label="diabetes",
        classes={0: "no diabetes", 1: "diabetes"},
        desired_class=0,
        features=(
            feature("age", "int", low=18, high=90, actionability="immutable"),
            feature("bmi", "float", unit="kg/m2", low=15, high=60),
            feature("sex", "categorical", categories=("f", "m"), actionability="immutable"),
            feature("steps", "int", low=0.5, high=30000.7, actionability="increase_only"),
            feature("smoker", "bool"),
            feature("diet", "categorical", categories=("poor", "fair", "good")),
        ),
    )


def test_schema_lists_mutable_features_in_spec_order_then_rationale() -> None:
    schema = counterfactual_json_schema(small_spec())

    assert list(schema["properties"]) == ["bmi", "steps", "smoker", "diet", "rationale"]
    assert schema["required"] == ["rationale"]  # compact: only changed features are named
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert (props["bmi"]["type"], props["bmi"]["minimum"], props["bmi"]["maximum"]) == (
        "number",
        15,
        60,
    )
    assert "kg/m2" in props["bmi"]["description"]
    # int bounds are whole numbers inside the spec's range
    assert (props["steps"]["type"], props["steps"]["minimum"], props["steps"]["maximum"]) == (
        "integer",
        1,
        30000,
    )
    assert isinstance(props["steps"]["minimum"], int)
    assert props["smoker"] == {"type": "integer", "enum": [0, 1], "description": "smoker."}
    assert props["diet"]["enum"] == ["poor", "fair", "good"]
    assert props["rationale"]["type"] == "string"
    assert props["rationale"]["maxLength"] == RATIONALE_MAX_LENGTH


def test_schema_is_valid_json_schema_that_rejects_bad_answers() -> None:
    schema = counterfactual_json_schema(small_spec())
    jsonschema.Draft202012Validator.check_schema(schema)

    jsonschema.validate(ANSWER, schema)
    jsonschema.validate({"steps": 9000, "rationale": "walk more"}, schema)  # compact answer
    for bad in (
        {**ANSWER, "bmi": 61},
        {**ANSWER, "steps": 2.5},
        {**ANSWER, "smoker": 2},
        {**ANSWER, "diet": "great"},
        {**ANSWER, "age": 40},  # immutable: never part of an answer
        {**ANSWER, "rationale": "x" * (RATIONALE_MAX_LENGTH + 1)},
        {k: v for k, v in ANSWER.items() if k != "rationale"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_short_numbers_only_tightens_ranged_floats_of_a_copy() -> None:
    schema = counterfactual_json_schema(small_spec())

    short = with_short_numbers(schema)

    assert short["properties"]["bmi"]["multipleOf"] == pytest.approx(0.01)  # range 45
    assert "multipleOf" not in short["properties"]["steps"]
    assert "multipleOf" not in schema["properties"]["bmi"]


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerBase:
    gguf = embedded_gguf_path()
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)


@pytest.fixture(scope="module")
def constraint(tokenizer: PreTrainedTokenizerBase) -> JsonSchemaConstraint:
    return JsonSchemaConstraint(tokenizer, [tokenizer.eos_token_id])


def allowed(processor: SchemaLogitsProcessor, history: torch.Tensor) -> torch.Tensor:
    """Feed the processor one generation step; True where a token may come next."""
    scores = torch.zeros(history.shape[0], VOCAB_SIZE)
    return processor(history, scores) > float("-inf")


def test_processor_masks_each_row_independently_and_ends_with_eos(
    tokenizer: PreTrainedTokenizerBase, constraint: JsonSchemaConstraint
) -> None:
    grammar = constraint.grammar(counterfactual_json_schema(small_spec()))
    short = {**ANSWER, "rationale": "ok"}
    rows = [
        tokenizer(json.dumps(answer, separators=(",", ":")), add_special_tokens=False)["input_ids"]
        for answer in (ANSWER, short)
    ]
    eos = tokenizer.eos_token_id
    processor = constraint.logits_processor([grammar, grammar])
    history = PROMPT.repeat(2, 1)
    for step in range(len(rows[0]) + 1):
        mask = allowed(processor, history)
        chosen = []
        for row, tokens in enumerate(rows):
            token = tokens[step] if step < len(tokens) else eos
            assert mask[row, token], (row, step, tokenizer.decode(tokens[: step + 1]))
            if step >= len(tokens):  # the JSON is complete: end-of-sequence only
                assert mask[row].nonzero().flatten().tolist() == [eos]
            chosen.append(token)
        history = torch.cat([history, torch.tensor([chosen]).T], dim=1)

    assert processor.problem(0) is None
    assert processor.problem(1) is None


def test_processor_blocks_out_of_range_numbers_and_reports_truncation(
    tokenizer: PreTrainedTokenizerBase, constraint: JsonSchemaConstraint
) -> None:
    grammar = constraint.grammar(counterfactual_json_schema(small_spec()))
    prefix = tokenizer('{"bmi":', add_special_tokens=False)["input_ids"]
    processor = constraint.logits_processor([grammar])
    history = PROMPT
    for token in prefix:
        allowed(processor, history)
        history = torch.cat([history, torch.tensor([[token]])], dim=1)

    mask = allowed(processor, history)

    digit = tokenizer.convert_tokens_to_ids
    assert mask[0, digit("3")] and mask[0, digit("1")]  # 3x, 1x (>= 15) can follow
    assert not mask[0, digit("9")]  # 9 or 9x is outside 15..60
    assert not mask[0, digit("-")]
    assert processor.problem(0) == "max_new_tokens ran out before the JSON answer was complete"


def personal_spec() -> FeatureSpec:
    """small_spec, with bmi that may only fall, by at most 3 kg/m2 per intervention."""
    spec = small_spec()
    bmi = spec.feature("bmi").model_copy(
        update={"actionability": "decrease_only", "max_change": 3.0}
    )
    features = tuple(bmi if f.name == "bmi" else f for f in spec.features)
    return spec.model_copy(update={"features": features})


PERSON = {"age": 50, "bmi": 27.555, "sex": "f", "steps": 8000, "smoker": 1, "diet": "poor"}


def test_a_persons_schema_narrows_ranges_to_what_one_intervention_reaches() -> None:
    props = counterfactual_json_schema(personal_spec(), PERSON)["properties"]

    # decrease_only, max 3: [24.555, 27.555], rounded inward to the range's 2 decimals
    assert (props["bmi"]["minimum"], props["bmi"]["maximum"]) == (24.56, 27.55)
    assert (props["steps"]["minimum"], props["steps"]["maximum"]) == (8000, 30000)  # up only
    assert props["diet"]["enum"] == ["poor", "fair", "good"]  # categories keep their enum


def test_a_feature_that_cannot_move_is_left_out_of_the_persons_schema() -> None:
    at_floor = {**PERSON, "bmi": 15.0}  # decrease_only at the spec's lowest value

    props = counterfactual_json_schema(personal_spec(), at_floor)["properties"]

    assert "bmi" not in props and "steps" in props


def test_every_value_a_persons_schema_admits_passes_the_actionability_verifier() -> None:
    spec = personal_spec()
    schema = counterfactual_json_schema(spec, PERSON)
    for name, prop in schema["properties"].items():
        if "minimum" not in prop:
            continue
        low, high = prop["minimum"], prop["maximum"]
        for value in (low, high, (low + high) / 2):
            value = round(value) if prop["type"] == "integer" else value
            assert feature_violations(spec.feature(name), PERSON[name], {name: value}) == []


def test_rows_of_one_batch_follow_their_own_schema_or_none(
    tokenizer: PreTrainedTokenizerBase, constraint: JsonSchemaConstraint
) -> None:
    narrowed = constraint.grammar(counterfactual_json_schema(personal_spec(), PERSON))
    processor = constraint.logits_processor([narrowed, None])
    history = PROMPT.repeat(2, 1)
    for token in tokenizer('{"bmi":', add_special_tokens=False)["input_ids"]:
        allowed(processor, history)
        history = torch.cat([history, torch.tensor([[token], [token]])], dim=1)

    mask = allowed(processor, history)

    digit = tokenizer.convert_tokens_to_ids
    assert mask[0, digit("2")]  # 24.56 .. 27.55
    assert not mask[0, digit("3")] and not mask[0, digit("1")]  # 3x or 1x: out of reach
    assert bool(mask[1].all())  # the unconstrained row may say anything
    assert processor.problem(1) is None


def test_unenforceable_schema_is_a_clear_error(constraint: JsonSchemaConstraint) -> None:
    with pytest.raises(LocalModelError, match="cannot be enforced"):
        constraint.grammar({"type": "object", "properties": {"a": {"type": "strin"}}})
