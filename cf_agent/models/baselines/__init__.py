"""Classic counterfactual methods behind the Proposer interface, for comparison with the agent.

Method strings: dice-random, dice-genetic, dice-kdtree (dice-ml), cfnow-greedy, cfnow-random
(cfnow), nice (NICEx), search (cf-agent's own greedy search: no LLM, no extra library) and
probes (the best combination of the probes the compact prompt shows).
Each library is imported only when its method is loaded, and a missing one is reported with the
command that installs it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cf_agent.data.spec import FeatureSpec
from cf_agent.errors import CfAgentError
from cf_agent.models.baselines.base import BaselineProposer
from cf_agent.models.classifier import ClassifierBundle

BASELINE_METHODS = (
    "dice-random",
    "dice-genetic",
    "dice-kdtree",
    "cfnow-greedy",
    "cfnow-random",
    "nice",
    "search",
    "probes",
)
_INSTALL = {
    "dice": "pip install dice-ml==0.12",
    "cfnow": "pip install cfnow==0.0.6",
    "nice": "pip install --no-deps nicex==0.2.3 (its metadata pins pandas<2; it runs on 3)",
}


class UnknownMethodError(CfAgentError):
    """A method string names neither a baseline nor an LLM model string."""

    exit_code = 10


def _check_options(method: str, options: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"{method} takes no option(s) {unknown}; it takes {sorted(allowed)}")


def load_baseline(
    method: str,
    spec: FeatureSpec,
    bundle: ClassifierBundle,
    train_frame: pd.DataFrame,
    **options: Any,
) -> BaselineProposer:
    """Build the baseline a method string names.

    Options: time_limit_s and seed (all methods), limit_seconds (cfnow-*: fine-tuning budget),
    optimization (nice: "sparsity" or "proximity"), margin and grid (search: how far past the
    boundary; "fine" or "half"), margin and top (probes: how many probes are combined).
    """
    if method not in BASELINE_METHODS:
        raise UnknownMethodError(
            f"unknown baseline method {method!r}", f"use one of: {', '.join(BASELINE_METHODS)}"
        )
    family, _, variant = method.partition("-")
    common = {"time_limit_s", "seed"}
    if method == "search":
        from cf_agent.models.baselines.search import SearchProposer

        _check_options(method, options, common | {"margin", "grid"})
        return SearchProposer(spec, bundle, **options)
    if method == "probes":
        from cf_agent.models.baselines.probes import ProbesProposer

        _check_options(method, options, common | {"margin", "top"})
        return ProbesProposer(spec, bundle, **options)
    try:
        if family == "dice":
            from cf_agent.models.baselines.dice import DiceProposer

            _check_options(method, options, common)
            return DiceProposer(spec, bundle, train_frame, method=variant, **options)  # type: ignore[arg-type]
        if family == "cfnow":
            from cf_agent.models.baselines.cfnow import CfnowProposer

            _check_options(method, options, common | {"limit_seconds"})
            return CfnowProposer(spec, bundle, strategy=variant, **options)  # type: ignore[arg-type]
        from cf_agent.models.baselines.nice import NiceProposer

        _check_options(method, options, common | {"optimization"})
        return NiceProposer(spec, bundle, train_frame, **options)
    except ModuleNotFoundError as exc:
        raise CfAgentError(
            f"{method} needs the Python package {exc.name!r}, which is not installed",
            _INSTALL[family],
        ) from None


__all__ = ["BASELINE_METHODS", "BaselineProposer", "UnknownMethodError", "load_baseline"]
