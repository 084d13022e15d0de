"""The JSON schema of a counterfactual answer, and local decoding that can only produce it.

llguidance (Rust, no Python dependencies) compiles a JSON schema into a token-level matcher
for the model's tokenizer; a transformers LogitsProcessor then masks, at every step and for
every row of the batch, each token that would break the schema. Ranges, enums, maxLength and
additionalProperties are all enforced, so an untrained 135M model still returns valid JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import llguidance
import llguidance.hf
import numpy as np
import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from cf_agent.models.llm.embedded import LocalModelError
from cf_agent.models.llm.schema import with_short_numbers

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions

# No whitespace between JSON tokens: fewer tokens for a slow model, and one canonical form.
JSON_COMPILE_OPTIONS: JsonCompileOptions = {"whitespace_flexible": False}


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
