"""The JSON schema of a counterfactual answer, and local decoding that can only produce it.

llguidance (Rust, no Python dependencies) compiles a JSON schema into a token-level matcher
for the model's tokenizer; a transformers LogitsProcessor then masks, at every step and for
every row of the batch, each token that would break the schema. Ranges, enums, maxLength and
additionalProperties are all enforced, so an untrained 135M model still returns valid JSON.
"""

from __future__ import annotations

import json
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

GRAMMAR_CACHE_ENTRIES = 256  # schemas (one per person in flight) whose grammars are kept
# No whitespace between JSON tokens: fewer tokens for a slow model, and one canonical form.
JSON_COMPILE_OPTIONS: JsonCompileOptions = {"whitespace_flexible": False}


class SchemaLogitsProcessor(LogitsProcessor):
    """Masks the tokens that would break each row's schema; one instance per generate().

    Each row has its own grammar (None: unconstrained). The first call sees the prompts; every
    later call consumes each row's last sampled token. A row whose JSON is complete (or whose
    matcher failed) may only emit end-of-sequence.
    """

    def __init__(
        self,
        tokenizer: llguidance.LLTokenizer,
        grammars: Sequence[str | None],
        eos_token_ids: Sequence[int],
    ) -> None:
        self.matchers = [
            None if grammar is None else llguidance.LLMatcher(tokenizer, grammar, log_level=0)
            for grammar in grammars
        ]
        self.eos_token_ids = list(eos_token_ids)
        self.started_ = False

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.FloatTensor:
        if self.started_:
            for matcher, token in zip(self.matchers, input_ids[:, -1].tolist(), strict=True):
                if matcher is not None and not matcher.is_stopped():
                    matcher.consume_token(token)
        self.started_ = True
        allowed = np.zeros(scores.shape, dtype=bool)
        vocab = scores.shape[1]
        for row, matcher in enumerate(self.matchers):
            if matcher is None:
                allowed[row] = True
            elif not matcher.is_stopped():
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
        if matcher is None:
            return None
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
        self.grammars_: dict[str, str] = {}

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
        """The llguidance grammar of a schema; one it cannot enforce is an error, not a hint.

        Cached: a batch often repeats a schema, and a run meets each person's schema again
        in every round.
        """
        key = json.dumps(json_schema, sort_keys=True)
        if key in self.grammars_:
            self.grammars_[key] = self.grammars_.pop(key)  # most recently used last
            return self.grammars_[key]
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
        if len(self.grammars_) >= GRAMMAR_CACHE_ENTRIES:
            del self.grammars_[next(iter(self.grammars_))]
        self.grammars_[key] = grammar
        return grammar

    def logits_processor(self, grammars: Sequence[str | None]) -> SchemaLogitsProcessor:
        return SchemaLogitsProcessor(self.llg_tokenizer_, grammars, self.eos_token_ids)
