"""What every classic baseline shares: the timed model it searches with, and the Proposer shell.

A baseline library sees the classifier through `TimedModel`, whose predict_proba refuses to run
past the row's deadline; every library here calls the model in each search step, so a search
that runs too long stops at its next model call instead of hanging the evaluation. The shell
groups requests by person, runs the library once per person for as many CFs as were asked,
and turns whatever came back (or the failure) into Proposals, never raising for one row.
"""

from __future__ import annotations

import contextlib
import io
import math
import random
import time
import warnings
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cf_agent.data.spec import FeatureSpec
from cf_agent.errors import ModelFileError
from cf_agent.models.classifier import ClassifierBundle
from cf_agent.proposers import CFRequest, Proposal


class RowDeadlineError(Exception):
    """A baseline's search for one person ran past its time limit."""


class TimedModel:
    """The classifier as a library sees it: sklearn-style predict_proba with a per-row deadline."""

    def __init__(self, bundle: ClassifierBundle) -> None:
        self.bundle = bundle
        self.classes_ = bundle.classes_
        self.deadline: float | None = None

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise RowDeadlineError("time limit reached")
        return self.bundle.predict_proba(frame)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(frame), axis=1)])

    @contextlib.contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """Model calls inside the block raise RowDeadlineError once `seconds` have passed."""
        self.deadline = time.monotonic() + seconds
        try:
            yield
        finally:
            self.deadline = None


def plain_row(spec: FeatureSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """A library's output row as cf-agent rows are: categories str, int/bool int, float float."""
    row: dict[str, Any] = {}
    for feature in spec.features:
        value = values[feature.name]
        if isinstance(value, np.generic):
            value = value.item()
        if feature.kind == "categorical":
            row[feature.name] = str(value)
        elif isinstance(value, int | float) and math.isfinite(float(value)):
            number = float(value)
            row[feature.name] = number if feature.kind == "float" else round(number)
        else:
            row[feature.name] = value
    return row


def row_seed(seed: int, query_id: str) -> int:
    """A seed per person, so a row's result does not depend on the order rows ran in."""
    return (seed + zlib.crc32(query_id.encode("utf-8"))) % 2**32


@contextlib.contextmanager
def search_context() -> Iterator[None]:
    """Silence a library's prints, progress bars and warnings; one OpenMP thread per model call.

    The searches call the model hundreds of times on small batches, where thread start-up
    costs more than it saves (15x slower for gradient boosting on two busy cores).
    """
    sink = io.StringIO()
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
        threadpool_limits(limits=1),
    ):
        warnings.simplefilter("ignore")
        yield


class BaselineProposer(ABC):
    """A Proposer around a classic CF library: one search per person, k CFs at once."""

    is_llm = False

    def __init__(
        self,
        name: str,
        spec: FeatureSpec,
        bundle: ClassifierBundle,
        time_limit_s: float = 30.0,
        seed: int = 0,
    ) -> None:
        if time_limit_s <= 0:
            raise ValueError(f"time_limit_s must be positive, got {time_limit_s}")
        classes = [int(c) for c in bundle.classes_]
        if spec.desired_class not in classes:
            raise ModelFileError(
                f"the model's classes {classes} do not include the desired class "
                f"{spec.desired_class}",
                "use a model trained on this spec's label",
            )
        self.name = name
        self.spec = spec
        self.model = TimedModel(bundle)
        self.time_limit_s = time_limit_s
        self.seed = seed
        self.desired_index = classes.index(spec.desired_class)

    @abstractmethod
    def _search(self, row: dict[str, Any], count: int, seed: int) -> list[dict[str, Any]]:
        """Up to `count` counterfactual rows (any value types) for one person."""

    def propose(self, requests: Sequence[CFRequest]) -> list[Proposal]:
        """One search per person; requests for the same person share it (k CFs at once)."""
        groups: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault(request.query_id, []).append(i)
        proposals: list[Proposal | None] = [None] * len(requests)
        for query_id, positions in groups.items():
            found = self._propose_one(requests[positions[0]].row, query_id, len(positions))
            for position, proposal in zip(positions, found, strict=True):
                proposals[position] = proposal
        return [p for p in proposals if p is not None]

    def _propose_one(self, row: dict[str, Any], query_id: str, count: int) -> list[Proposal]:
        """`count` proposals for one person: the CFs found, then errors for the missing ones.

        The global `random` and NumPy generators are seeded per person first: the libraries
        draw from them, not from a generator of their own.
        """
        seed = row_seed(self.seed, query_id)
        random.seed(seed)
        np.random.seed(seed)
        started = time.perf_counter()
        error = None
        rows: list[dict[str, Any]] = []
        try:
            with search_context(), self.model.time_limit(self.time_limit_s):
                rows = [plain_row(self.spec, r) for r in self._search(dict(row), count, seed)]
        except Exception as exc:  # a library failure is this row's result, not the run's end
            # Libraries may wrap the deadline error in their own; the clock tells which it was.
            timed_out = time.perf_counter() - started >= self.time_limit_s
            if isinstance(exc, RowDeadlineError) or timed_out:
                error = (
                    f"{self.name} found no counterfactual within its {self.time_limit_s:g} s limit"
                )
            else:
                error = f"{self.name} failed: {type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - started
        if not rows and error is None:
            error = f"{self.name} found no counterfactual"
        out = [
            Proposal(
                values=values,
                source=self.name,
                raw_output=f"{self.name}: {i + 1} of {len(rows)} counterfactuals",
                latency_s=seconds,
            )
            for i, values in enumerate(rows[:count])
        ]
        missing = error or f"{self.name} returned only {len(out)} of {count} counterfactuals"
        out += [
            Proposal(values=None, source=self.name, error=missing, latency_s=seconds)
            for _ in range(count - len(out))
        ]
        return out
