"""cf-agent: verified counterfactual explanations for health classifiers.

    from cf_agent import CFAgent
    result = CFAgent("demo.toml", classifier).fit(train).explain(people)
    result.to_frame()

Names are imported on first use, so `import cf_agent` loads neither pandas nor the LLM stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from cf_agent.version import __version__

_EXPORTS = {
    "CFAgent": "cf_agent.api",
    "Explanation": "cf_agent.api",
    "RunSettings": "cf_agent.agent.options",
    "FeatureSpec": "cf_agent.data.spec",
    "load_spec": "cf_agent.data.spec",
}
__all__ = ["CFAgent", "Explanation", "FeatureSpec", "RunSettings", "__version__", "load_spec"]

if TYPE_CHECKING:
    from cf_agent.agent.options import RunSettings
    from cf_agent.api import CFAgent, Explanation
    from cf_agent.data.spec import FeatureSpec, load_spec


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cf_agent' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
