"""The three deterministic checks every candidate counterfactual must pass, run together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from cf_agent.tools.verdict import Verdict, VerifierName


class Check(Protocol):
    """One verifier: a name and the uniform check / check_many signature."""

    name: VerifierName

    def check(self, query: Mapping[str, Any], candidate: Mapping[str, Any]) -> Verdict: ...

    def check_many(
        self, query: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]]
    ) -> list[Verdict]: ...


class Verifiers:
    """Classifier, actionability and plausibility checks, in that order."""

    def __init__(self, classifier_check: Check, actionability: Check, plausibility: Check) -> None:
        self.classifier_check = classifier_check
        self.actionability = actionability
        self.plausibility = plausibility
        self.checks: tuple[Check, ...] = (classifier_check, actionability, plausibility)

    def check(self, query: Mapping[str, Any], candidate: Mapping[str, Any]) -> list[Verdict]:
        """One verdict per check for one candidate."""
        return [check.check(query, candidate) for check in self.checks]

    def check_many(
        self, query: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]]
    ) -> list[list[Verdict]]:
        """Per candidate, one verdict per check; each check scores all candidates at once."""
        per_check = [check.check_many(query, candidates) for check in self.checks]
        return [list(verdicts) for verdicts in zip(*per_check, strict=True)]

    @staticmethod
    def all_passed(verdicts: Sequence[Verdict]) -> bool:
        """True when every check passed (and there was at least one)."""
        return bool(verdicts) and all(v.passed for v in verdicts)
