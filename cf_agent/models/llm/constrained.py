"""The JSON schema of a counterfactual answer, and local decoding that can only produce it.

llguidance (Rust, no Python dependencies) compiles a JSON schema into a token-level matcher
for the model's tokenizer; a transformers LogitsProcessor then masks, at every step and for
every row of the batch, each token that would break the schema. Ranges, enums, maxLength and
additionalProperties are all enforced, so an untrained 135M model still returns valid JSON.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import llguidance
import llguidance.hf
import numpy as np
import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from cf_agent.data.spec import Feature, FeatureSpec
from cf_agent.models.llm.embedded import LocalModelError

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions

RATIONALE_MAX_LENGTH = 160
# No whitespace between JSON tokens: fewer tokens for a slow model, and one canonical form.
JSON_COMPILE_OPTIONS: JsonCompileOptions = {"whitespace_flexible": False}
# Decimals a ranged number may carry: about 3 significant digits of its range, at most 4
# (projection rounds to 4), so that 34.2 costs 4 tokens and never runs on as 34.2000001...
MAX_DECIMALS = 4


def _feature_schema(feature: Feature) -> dict[str, Any]:
    unit = f" [{feature.unit}]" if feature.unit else ""
    described: dict[str, Any] = {"description": feature.description + unit}
    if feature.kind == "categorical":
        return {"type": "string", "enum": list(feature.categories or ()), **described}
    if feature.kind == "bool":
        return {"type": "integer", "enum": [0, 1], **described}
    low, high = float(feature.low or 0.0), float(feature.high or 0.0)
    if feature.kind == "int":
        return {
            "type": "integer",
            "minimum": math.ceil(low),
            "maximum": math.floor(high),
            **described,
        }
    return {"type": "number", "minimum": low, "maximum": high, **described}


def counterfactual_json_schema(spec: FeatureSpec) -> dict[str, Any]:
    """Changeable features in spec order (typed, ranged), then a short rationale; all required."""
    properties = {
        f.name: _feature_schema(f) for f in spec.features if f.actionability != "immutable"
    }
    properties["rationale"] = {
        "type": "string",
        "maxLength": RATIONALE_MAX_LENGTH,
        "description": "One short sentence on why this change is realistic.",
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def with_short_numbers(json_schema: dict[str, Any]) -> dict[str, Any]:
    """A copy whose ranged numbers carry few decimals (a stricter schema: output still validates).

    Only for our own decoder: a decimal multipleOf in the public schema would make standard
    validators reject valid answers (jsonschema computes 34.12 / 0.01 = 3411.9999...).
    """
    schema = copy.deepcopy(json_schema)
    for prop in schema.get("properties", {}).values():
        is_ranged_number = prop.get("type") == "number" and "minimum" in prop and "maximum" in prop
        if is_ranged_number and "multipleOf" not in prop:
            width = float(prop["maximum"]) - float(prop["minimum"])
            magnitude = math.floor(math.log10(width)) if width > 0 else 0
            decimals = min(max(3 - magnitude, 1), MAX_DECIMALS)
            prop["multipleOf"] = 10.0**-decimals
    return schema


class SchemaLogitsProcessor(LogitsProcessor):
    """Masks the tokens that would break the schema, row by row; one instance per generate().

    The first call sees the prompts; every later call consumes each row's last sampled token.
    A row whose JSON is complete (or whose matcher failed) may only emit end-of-sequence.
    """

    def __init__(
        self,
        tokenizer: llguidance.LLTokenizer,
        grammar: str,
        batch_size: int,
        eos_token_ids: Sequence[int],
    ) -> None:
        self.matchers = [
            llguidance.LLMatcher(tokenizer, grammar, log_level=0) for _ in range(batch_size)
        ]
        self.eos_token_ids = list(eos_token_ids)
        self.started_ = False

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.FloatTensor:
        if self.started_:
            for matcher, token in zip(self.matchers, input_ids[:, -1].tolist(), strict=True):
                if not matcher.is_stopped():
                    matcher.consume_token(token)
        self.started_ = True
        allowed = np.zeros(scores.shape, dtype=bool)
        vocab = scores.shape[1]
        for row, matcher in enumerate(self.matchers):
            if not matcher.is_stopped():
                bits = np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8)
                unpacked = np.unpackbits(bits, bitorder="little")[:vocab]
                allowed[row, : len(unpacked)] = unpacked
            if not allowed[row].any():
                allowed[row, self.eos_token_ids] = True
        mask = torch.from_numpy(allowed).to(scores.device)
        return scores.masked_fill(~mask, float("-inf"))  # type: ignore[return-value]

    def problem(self, row: int) -> str | None:
        """Why row's text is not a complete, schema-valid JSON value; None when it is."""
        matcher = self.matchers[row]
        if matcher.is_error():
            return f"constrained decoding failed: {matcher.get_error()}"
        if not matcher.is_accepting():
            return "max_new_tokens ran out before the JSON answer was complete"
        return None


class JsonSchemaConstraint:
    """Compiles JSON schemas for one tokenizer and hands out a fresh processor per batch."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, eos_token_ids: Sequence[int]) -> None:
        self.tokenizer = tokenizer
        self.eos_token_ids = eos_token_ids

    @cached_property
    def llg_tokenizer_(self) -> llguidance.LLTokenizer:
        """llguidance's view of the vocabulary (~0.3 s to build, so built once, on first use)."""
        if not isinstance(self.tokenizer, PreTrainedTokenizerFast):
            raise LocalModelError(
                f"constrained decoding needs a fast tokenizer, not {type(self.tokenizer).__name__}",
                "use a model folder that has a tokenizer.json",
            )
        return llguidance.hf.from_tokenizer(self.tokenizer, eos_token=list(self.eos_token_ids))

    def grammar(self, json_schema: dict[str, Any]) -> str:
        """The llguidance grammar of a schema; one it cannot enforce is an error, not a hint."""
        grammar = llguidance.LLMatcher.grammar_from_json_schema(
            with_short_numbers(json_schema), defaults=JSON_COMPILE_OPTIONS
        )
        is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(
            grammar, self.llg_tokenizer_
        )
        if is_error:
            raise LocalModelError(
                f"the JSON schema cannot be enforced during decoding: {'; '.join(messages)}",
                "use types, enums, ranges and lengths that llguidance's JSON support covers",
            )
        return grammar

    def logits_processor(self, grammar: str, batch_size: int) -> SchemaLogitsProcessor:
        return SchemaLogitsProcessor(self.llg_tokenizer_, grammar, batch_size, self.eos_token_ids)
