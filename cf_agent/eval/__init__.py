"""`cf-agent eval`: the agent and classic baselines on the same people, judged by the same checks.

options.py declares what it takes (the command's flags come from there); evaluate.py runs the
methods and journals each judged person; judge.py scores CFs with the verifiers and metrics;
table.py and interventions.py aggregate; figures.py and report.py write the report. Column
definitions: docs/evaluation.md. Names are imported on first use, so that the command line can
read EvalOptions without loading pandas and the baselines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cf_agent.lazy import lazy_exports

__all__ = ["EvalOptions", "EvalOutcome", "evaluate"]
__getattr__ = lazy_exports(
    __name__,
    {
        "EvalOptions": "cf_agent.eval.options",
        "EvalOutcome": "cf_agent.eval.evaluate",
        "evaluate": "cf_agent.eval.evaluate",
    },
)

if TYPE_CHECKING:
    from cf_agent.eval.evaluate import EvalOutcome, evaluate
    from cf_agent.eval.options import EvalOptions
