"""Model strings -> chat backends: `embedded` (with its shipped adapter), `embedded-base`,
`hf:<id or path>[@<adapter>]`, `openai:<model>`.

Backends import torch / langchain lazily, so commands that need no LLM start fast.
"""

from __future__ import annotations

import json
from pathlib import Path

from cf_agent.errors import CfAgentError
from cf_agent.models.llm.base import ChatBackend

MODEL_FORMS = "embedded, embedded-base, hf:<model id or path>[@<peft adapter path>], openai:<model>"
MODEL_FORMS += " (in eval/augment, +refine appended: the LLM followed by the search)"


REFINE_SUFFIX = "+refine"


def split_method(method: str) -> tuple[str, bool]:
    """An LLM method string as (model string, refinement on): 'embedded+refine' is the LLM
    followed by the search; plain 'embedded' is the LLM alone."""
    if method.endswith(REFINE_SUFFIX):
        return method.removesuffix(REFINE_SUFFIX), True
    return method, False


def is_model_string(method: str) -> bool:
    """Whether `method` names an LLM (a model string, with or without +refine), not a baseline."""
    model = split_method(method)[0]
    return model in ("embedded", "embedded-base") or model.startswith(("hf:", "openai:"))


BUILT_IN_PROMPTS = ("compact", "zero_shot", "few_shot")


def default_prompt(model_string: str) -> str:
    """The prompt a model string gets unless one is named: the compact one for the embedded
    135M model (trained on it, and ~450 tokens instead of ~1,250); for `hf:<base>@<adapter>`,
    the built-in prompt the adapter was fine-tuned on (its card.json); zero_shot for the rest."""
    if model_string in ("embedded", "embedded-base"):
        return "compact"
    if model_string.startswith("hf:") and "@" in model_string:
        card = Path(model_string.rsplit("@", 1)[1]).expanduser() / "card.json"
        try:
            trained = list(json.loads(card.read_text(encoding="utf-8")).get("prompts", {}))
        except (OSError, ValueError, AttributeError):
            trained = []
        if trained and trained[0] in BUILT_IN_PROMPTS:
            return str(trained[0])
    return "zero_shot"


class UnknownModelError(CfAgentError):
    """The model string names no known backend."""

    exit_code = 10


def load_backend(
    model_string: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    batch_size: int = 8,
    concurrency: int = 4,
    timeout_s: float = 60.0,
) -> ChatBackend:
    """Build the chat backend a model string names."""
    if model_string in ("embedded", "embedded-base"):
        from cf_agent.models.llm.local import TransformersBackend

        return TransformersBackend.embedded(
            adapted=model_string == "embedded", batch_size=batch_size
        )
    if model_string.startswith("hf:"):
        from cf_agent.models.llm.local import TransformersBackend

        target = model_string.removeprefix("hf:")
        path, _, adapter = target.partition("@")
        if not path:
            raise UnknownModelError(
                f"model string {model_string!r} names no model", "use hf:<model id or path>"
            )
        return TransformersBackend(
            model_string=model_string,
            model_path=path,
            adapter_path=Path(adapter) if adapter else None,
            batch_size=batch_size,
        )
    if model_string.startswith("openai:"):
        from cf_agent.models.llm.openai_compat import OpenAIBackend

        model = model_string.removeprefix("openai:")
        if not model:
            raise UnknownModelError(
                f"model string {model_string!r} names no model",
                "use openai:<model>, e.g. openai:gpt-4o",
            )
        return OpenAIBackend(
            model=model,
            base_url=base_url,
            api_key=api_key,
            concurrency=concurrency,
            timeout_s=timeout_s,
        )
    raise UnknownModelError(f"unknown model string {model_string!r}", f"use one of: {MODEL_FORMS}")
