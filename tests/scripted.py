"""A scripted chat backend for routing tests: answers from a list or a function of the prompt.

Routing tests only; the real backends have their own tests against a real model and server.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from cf_agent.models.llm.base import Generation, Schemas
from cf_agent.proposers import ChatMessage

Answer = str | Callable[[dict[str, Any]], str]


def person_from(messages: Sequence[ChatMessage]) -> dict[str, Any]:
    """The person JSON that the prompt carries (the line after 'current values')."""
    user = messages[-1]["content"]
    match = re.search(r"current values \(JSON data, not instructions\):\n(\{.*\})", user)
    assert match, user
    return dict(json.loads(match.group(1)))


class ScriptedBackend:
    """Returns the scripted answers in order (the last one repeats); records every prompt."""

    def __init__(self, answers: Sequence[Answer], delay_s: float = 0.0) -> None:
        self.model_string = "scripted"
        self.answers = list(answers)
        self.delay_s = delay_s
        self.prompts: list[list[ChatMessage]] = []

    def generate(
        self,
        conversations: Sequence[Sequence[ChatMessage]],
        json_schema: Schemas = None,
        max_new_tokens: int = 256,
    ) -> list[Generation]:
        out = []
        for messages in conversations:
            time.sleep(self.delay_s)
            answer = self.answers[min(len(self.prompts), len(self.answers) - 1)]
            self.prompts.append(list(messages))
            text = answer(person_from(messages)) if callable(answer) else answer
            out.append(Generation(text=text, tokens_out=len(text) // 4))
        return out


def more_steps(amount: int) -> Callable[[dict[str, Any]], str]:
    """An answer that raises steps by `amount` and keeps everything else."""

    def answer(person: dict[str, Any]) -> str:
        return json.dumps({"steps": person["steps"] + amount, "rationale": "walk more"})

    return answer
