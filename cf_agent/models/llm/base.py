"""The one small interface every LLM backend implements.

A backend turns chat conversations into text. It knows nothing about counterfactuals: the
proposer (agent side) renders prompts, and parses and validates what comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, Field

from cf_agent.proposers import ChatMessage

__all__ = ["ChatBackend", "ChatMessage", "Generation", "JsonSchema", "Schemas"]


class Generation(BaseModel):
    """What a backend returns for one conversation."""

    text: str = Field(description="The raw model output (JSON text expected, not guaranteed).")
    tokens_in: int = Field(default=0, description="Prompt tokens.")
    tokens_out: int = Field(default=0, description="Generated tokens.")
    latency_s: float = Field(default=0.0, description="Wall time attributed to this conversation.")
    error: str | None = Field(
        default=None, description="Why no usable text came back (timeout, HTTP error...)."
    )


JsonSchema = dict[str, Any]
# One schema for every conversation, one per conversation (None: free text), or none at all.
Schemas = JsonSchema | Sequence[JsonSchema | None] | None


def schema_per_conversation(json_schema: Schemas, n: int) -> list[JsonSchema | None]:
    """The schema of each of `n` conversations."""
    if json_schema is None or isinstance(json_schema, dict):
        return [json_schema] * n
    schemas = list(json_schema)
    if len(schemas) != n:
        raise ValueError(f"{len(schemas)} JSON schemas for {n} conversations")
    return schemas


class ChatBackend(Protocol):
    """A chat model that answers a batch of conversations.

    `json_schema`, when given (one for all, or one per conversation), describes the JSON object
    the answer must be; local backends enforce it during decoding, remote ones pass it as
    structured output. A backend never raises for one bad conversation: it returns a
    Generation with `error` set instead.
    """

    model_string: str

    def generate(
        self,
        conversations: Sequence[Sequence[ChatMessage]],
        json_schema: Schemas = None,
        max_new_tokens: int = 256,
    ) -> list[Generation]: ...
