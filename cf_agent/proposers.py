"""The proposer interface: what the agent asks for, what comes back, and who answers.

LLM backends (`models/llm/`) and classic baselines (`models/baselines/`) both implement
`Proposer`; prompt rendering (`prompts/`) builds `ChatMessage`s. This module sits below all of
them and depends only on the data and tools layers.

Batched by design: `propose` takes many requests at once so local models can pad and batch,
remote endpoints can run concurrently, and baselines can vectorise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from cf_agent.tools.sensitivity import Probes


class ChatMessage(TypedDict):
    """One chat turn, as in the OpenAI and transformers chat formats."""

    role: str
    content: str


class CFRequest(BaseModel):
    """One counterfactual wanted for one person, with what earlier rounds taught us."""

    query_id: str = Field(description="Stable id of the person / query row.")
    row: dict[str, Any] = Field(description="The factual feature values.")
    current_class: int = Field(description="The class the classifier predicts now.")
    desired_class: int = Field(description="The class the counterfactual must reach.")
    previous: dict[str, Any] | None = Field(
        default=None, description="The last rejected proposal, when revising."
    )
    feedback: str = Field(default="", description="The verifiers' reasons, when revising.")
    probes: Probes | None = Field(
        default=None, description="Single-feature classifier probes (sensitivity hints)."
    )
    avoid: list[dict[str, Any]] = Field(
        default_factory=list, description="Counterfactuals already accepted (for diversity)."
    )
    exemplars: list[tuple[dict[str, Any], dict[str, Any]]] = Field(
        default_factory=list, description="Verified (person, counterfactual) pairs of neighbours."
    )


class Proposal(BaseModel):
    """One proposed counterfactual row and how it was obtained."""

    values: dict[str, Any] | None = Field(
        description="Full feature row of the counterfactual, or None when unusable."
    )
    rationale: str = Field(default="", description="The proposer's short explanation.")
    source: str = Field(description="Model string or method that produced the values.")
    raw_output: str = Field(default="", description="Raw text (LLMs) or a summary (baselines).")
    prompt: list[ChatMessage] | None = Field(default=None, description="Messages sent, if any.")
    prompt_name: str = Field(default="", description="Template used, if any.")
    tokens_in: int = Field(default=0)
    tokens_out: int = Field(default=0)
    latency_s: float = Field(default=0.0)
    error: str | None = Field(
        default=None, description="Why `values` is None or incomplete, as feedback for a retry."
    )


class Proposer(Protocol):
    """Anything that proposes counterfactuals: an LLM, DiCE, CFNOW, NICE..."""

    name: str
    is_llm: bool

    def propose(self, requests: Sequence[CFRequest]) -> list[Proposal]: ...
