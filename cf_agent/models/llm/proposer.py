"""LLMProposer: renders prompts, asks a chat backend, parses answers into Proposals."""

from __future__ import annotations

from collections.abc import Sequence

from cf_agent.data.spec import FeatureSpec
from cf_agent.models.llm.answer import parse_answer
from cf_agent.models.llm.base import ChatBackend
from cf_agent.models.llm.schema import counterfactual_json_schema
from cf_agent.prompts.render import PromptTemplate, prompt_values
from cf_agent.proposers import CFRequest, ChatMessage, Proposal


def render_request(
    spec: FeatureSpec, initial: PromptTemplate, revise: PromptTemplate, request: CFRequest
) -> tuple[PromptTemplate, list[ChatMessage]]:
    """The prompt for a request: the revise template once there is feedback, else the initial."""
    template = revise if request.feedback else initial
    values = prompt_values(
        spec,
        request.row,
        request.current_class,
        previous=request.previous,
        feedback=request.feedback,
        probes=request.probes,
        avoid=request.avoid,
        exemplars=request.exemplars,
    )
    return template, template.render(values)


class LLMProposer:
    """Proposes CFs with any ChatBackend: `initial` template first, `revise` after feedback."""

    is_llm = True

    def __init__(
        self,
        backend: ChatBackend,
        spec: FeatureSpec,
        initial: PromptTemplate,
        revise: PromptTemplate,
        max_new_tokens: int = 320,
    ) -> None:
        self.backend = backend
        self.spec = spec
        self.initial = initial
        self.revise = revise
        self.max_new_tokens = max_new_tokens
        self.name = backend.model_string
        # Backends that batch or serve concurrently say how many queries to run at once.
        self.parallel_queries: int = getattr(backend, "parallel_queries", 1)

    def render(self, request: CFRequest) -> tuple[PromptTemplate, list[ChatMessage]]:
        return render_request(self.spec, self.initial, self.revise, request)

    def propose(self, requests: Sequence[CFRequest]) -> list[Proposal]:
        rendered = [self.render(r) for r in requests]
        # Each person's own schema: numeric ranges narrowed to what one intervention may reach.
        schemas = [counterfactual_json_schema(self.spec, r.row) for r in requests]
        generations = self.backend.generate(
            [messages for _, messages in rendered], schemas, self.max_new_tokens
        )
        proposals = []
        for request, (template, messages), gen in zip(requests, rendered, generations, strict=True):
            common = {
                "source": self.name,
                "raw_output": gen.text,
                "prompt": messages,
                "prompt_name": template.name,
                "tokens_in": gen.tokens_in,
                "tokens_out": gen.tokens_out,
                "latency_s": gen.latency_s,
            }
            if gen.error:
                proposals.append(Proposal(values=None, error=gen.error, **common))
                continue
            parsed = parse_answer(self.spec, request.row, gen.text)
            proposals.append(
                Proposal(
                    values=parsed.values,
                    rationale=parsed.rationale,
                    error="; ".join(parsed.problems) or None,
                    **common,
                )
            )
        return proposals
