"""Run `run_agent` with a slow scripted proposer in a child process (the kill/resume test)."""

from __future__ import annotations

import sys
from pathlib import Path

from scripted import ScriptedBackend, more_steps

from cf_agent.agent.runner import RunOptions, run_agent
from cf_agent.data.spec import load_spec
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.prompts.render import load_prompt


def main() -> None:
    options = RunOptions.model_validate_json(Path(sys.argv[1]).read_text(encoding="utf-8"))
    delay = float(sys.argv[2])
    spec = load_spec(options.spec)
    backend = ScriptedBackend(["not json", more_steps(3000)], delay_s=delay)
    proposer = LLMProposer(backend, spec, load_prompt("zero_shot"), load_prompt("revise"))
    run_agent(options, proposer=proposer)


if __name__ == "__main__":
    main()
