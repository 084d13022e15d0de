"""The one small interface every LLM backend implements.

A backend turns chat conversations into text. It knows nothing about counterfactuals: the
proposer (agent side) renders prompts, and parses and validates what comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, Field
from typing_extensions import TypedDict


class ChatMessage(TypedDict):
    """One chat turn, as in the OpenAI and transformers chat formats."""

    role: str
    content: str


class Generation(BaseModel):
    """What a backend returns for one conversation."""

    text: str = Field(description="The raw model output (JSON text expected, not guaranteed).")
    tokens_in: int = Field(default=0, description="Prompt tokens.")
    tokens_out: int = Field(default=0, description="Generated tokens.")
    latency_s: float = Field(default=0.0, description="Wall time attributed to this conversation.")
    error: str | None = Field(
        default=None, description="Why no usable text came back (timeout, HTTP error...)."
    )


class ChatBackend(Protocol):
    """A chat model that answers a batch of conversations.

    `json_schema`, when given, describes the JSON object the answer must be; local backends
    enforce it during decoding, remote ones pass it as structured output. A backend never
    raises for one bad conversation: it returns a Generation with `error` set instead.
    """

    model_string: str

    def generate(
        self,
        conversations: Sequence[Sequence[ChatMessage]],
        json_schema: dict[str, Any] | None = None,
        max_new_tokens: int = 256,
    ) -> list[Generation]: ...
