"""The run context: the services every query of a run shares, passed as LangGraph's
`context=` (never checkpointed) and read by nodes as `runtime.context`.

It is fixed for the run: nothing a query learns goes here (few-shot exemplars travel in the
graph state, see exemplars.py), so a resumed run sees the same context as an uninterrupted one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from cf_agent.audit.store import AuditStore, EventType
from cf_agent.data.spec import FeatureSpec
from cf_agent.proposers import Proposer
from cf_agent.tools.classifier_check import ProbabilisticClassifier
from cf_agent.tools.verifiers import Verifiers


@dataclass(frozen=True, eq=False)
class AgentContext:
    """Proposer, verifiers, classifier, audit log and the run's switches."""

    spec: FeatureSpec
    proposer: Proposer
    verifiers: Verifiers
    model: ProbabilisticClassifier
    audit: AuditStore | None = None
    run_id: str = ""
    refine: bool = True
    hints: bool = True
    # Parallel queries share one audit connection: their writes take turns.
    _audit_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def log(self, event_type: str, query_id: str, payload: dict[str, Any]) -> None:
        if self.audit is not None:
            with self._audit_lock:
                self.audit.append(self.run_id, event_type, payload, query_id=query_id)

    def log_outcome(self, event_type: str, query_id: str, payload: dict[str, Any]) -> None:
        """Log a query's final event once, even if a crash makes the finish node run again."""
        if self.audit is None:
            return
        with self._audit_lock:
            for done in (EventType.ACCEPTED, EventType.GAVE_UP):
                if self.audit.events(run_id=self.run_id, type=done, query_id=query_id, limit=1):
                    return
            self.audit.append(self.run_id, event_type, payload, query_id=query_id)
