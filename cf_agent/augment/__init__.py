"""`cf-agent augment`: does adding verified CFs recover the F1 lost when minority labels are scarce?

scenarios.py draws the scarce training sets, sources.py orders the majority rows CFs start
from, teacher.py makes the scarce model fast to query, generate.py the CF rows toward the
minority class, arms.py builds and scores each arm's training set, summary.py computes
recovery, 95% CIs and the paired test against SMOTE, report.py writes the tables, the count
sweep figure and rows, study.py runs (and resumes) it all; options.py declares what it takes
and returns (the command's flags come from there).
Definitions: docs/augmentation.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cf_agent.lazy import lazy_exports

__all__ = ["AugmentOptions", "AugmentOutcome", "run_study"]
__getattr__ = lazy_exports(
    __name__,
    {
        "AugmentOptions": "cf_agent.augment.options",
        "AugmentOutcome": "cf_agent.augment.options",
        "run_study": "cf_agent.augment.study",
    },
)

if TYPE_CHECKING:
    from cf_agent.augment.options import AugmentOptions, AugmentOutcome
    from cf_agent.augment.study import run_study
