"""`cf-agent eval`: the agent and classic baselines on the same people, judged by the same checks.

evaluate.py runs the methods and journals each judged person; judge.py scores CFs with the
verifiers and metrics; table.py and interventions.py aggregate; figures.py and report.py write
the report. Column definitions: docs/evaluation.md.
"""

from __future__ import annotations

from cf_agent.eval.evaluate import EvalOptions, EvalOutcome, evaluate

__all__ = ["EvalOptions", "EvalOutcome", "evaluate"]
