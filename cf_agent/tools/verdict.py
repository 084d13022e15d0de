"""The verdict every verifier returns: pass/fail, a score, and reasons an LLM can act on."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

VerifierName = Literal["classifier", "actionability", "plausibility"]
VERIFIER_NAMES: tuple[VerifierName, ...] = get_args(VerifierName)


class Reason(BaseModel):
    """One problem with a proposal, phrased as an instruction, e.g. 'age must stay 57'."""

    model_config = ConfigDict(frozen=True)

    feature: str | None = Field(default=None, description="Feature concerned, if any.")
    message: str = Field(description="What is wrong and what would fix it.")


class Verdict(BaseModel):
    """Result of one deterministic check on one candidate counterfactual."""

    model_config = ConfigDict(frozen=True)

    check: VerifierName = Field(description="The verifier that judged.")
    passed: bool = Field(description="True when the candidate satisfies this check.")
    score: float = Field(description="Check-specific score in [0, 1]; higher is better.")
    reasons: tuple[Reason, ...] = Field(default=(), description="Problems found, if any.")
    details: dict[str, float | str] = Field(
        default_factory=dict, description="Numbers behind the verdict (probabilities, etc.)."
    )

    def feedback(self) -> str:
        """The reasons as bullet lines, for a revise prompt."""
        return "\n".join(
            f"- {r.feature}: {r.message}" if r.feature else f"- {r.message}" for r in self.reasons
        )
