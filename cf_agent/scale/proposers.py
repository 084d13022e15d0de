"""Picklable recipes for proposers, so a Ray worker can build its own instead of receiving one.

A ready proposer holds a fitted library and a classifier, which are large or not picklable; a
factory is a few plain fields and builds the proposer inside the worker from the shard's options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cf_agent.agent.runner import RunOptions
from cf_agent.data.cohort import load_cohort
from cf_agent.data.spec import load_spec
from cf_agent.models.baselines import load_baseline
from cf_agent.models.classifier import load_bundle, training_rows
from cf_agent.proposers import Proposer


class ProposerFactory(Protocol):
    """Builds the proposer for one run (or shard) from its options; must pickle."""

    def __call__(self, options: RunOptions) -> Proposer: ...


@dataclass(frozen=True)
class BaselineFactory:
    """A classic baseline (dice-random, cfnow-greedy, ...) trained on the classifier's train split.

    `training_rows` sorts them by id, so the baseline is the same whatever order a shard's data
    file lists them in (shards list their own people first).
    """

    method: str
    time_limit_s: float = 30.0
    seed: int = 0

    def __call__(self, options: RunOptions) -> Proposer:
        spec = load_spec(options.spec)
        cohort = load_cohort(options.data, spec)
        bundle = load_bundle(options.model_dir, spec)
        return load_baseline(
            self.method,
            spec,
            bundle,
            training_rows(cohort, options.model_dir),
            time_limit_s=self.time_limit_s,
            seed=self.seed,
        )
