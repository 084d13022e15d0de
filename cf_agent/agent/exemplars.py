"""Few-shot material: verified CFs of the people a run has finished, nearest first.

Each query's exemplars are chosen once, when it starts, and travel in its graph state, so a
query resumed from its checkpoint prompts with the exemplars it started with. The pool they
are chosen from is the run's finished people: rebuilt from the result journal on a resume,
so the people after a resume see the same pool as in an uninterrupted run.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from cf_agent.agent.state import Exemplar
from cf_agent.data.spec import FeatureSpec

MAX_EXEMPLARS = 3


class ExemplarPool:
    """The run's finished people with an accepted CF, in the order they finished.

    Worker threads add to it and draw from it; each draw is a copy, never a view.
    """

    def __init__(self, spec: FeatureSpec, size: int = MAX_EXEMPLARS) -> None:
        self.spec = spec
        self.size = size
        self._exemplars: list[Exemplar] = []
        self._lock = threading.Lock()

    def add(self, person: Mapping[str, Any], accepted: list[Mapping[str, Any]]) -> None:
        """A finished person: their first accepted CF joins the pool (none: nothing joins)."""
        if accepted and accepted[0].get("values") is not None:
            exemplar = Exemplar(person=dict(person), counterfactual=dict(accepted[0]["values"]))
            with self._lock:
                self._exemplars.append(exemplar)

    def nearest(self, query: Mapping[str, Any]) -> list[Exemplar]:
        """The `size` people most like `query` (numeric features, range-scaled); ties keep
        the order they finished in."""
        numeric = [f for f in self.spec.features if f.is_numeric]

        def distance(exemplar: Exemplar) -> float:
            row = exemplar["person"]
            return sum(
                abs(float(row[f.name]) - float(query[f.name]))
                / (float(f.high or 1) - float(f.low or 0))
                for f in numeric
            )

        with self._lock:
            ranked = sorted(self._exemplars, key=distance)
        return ranked[: self.size]
