"""The Python door, for notebooks: `CFAgent(spec, clf).fit(train).explain(people).to_frame()`.

The same agent, verifiers and options as `cf-agent run` (which calls it), with pandas in and out.
scikit-learn's conventions: `__init__` stores the settings, `fit` learns what plausibility needs
from the classifier's training rows, fitted attributes end in `_`. The LLM stack is imported
only when `explain` runs, so `import cf_agent` stays light.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.exceptions import NotFittedError

from cf_agent.agent.options import RunJob, RunOptions, RunSettings
from cf_agent.agent.outputs import flat_columns, flat_rows
from cf_agent.agent.summary import RunSummary
from cf_agent.data.cohort import Cohort, cohort_from_frame, load_cohort
from cf_agent.data.spec import FeatureSpec, load_spec
from cf_agent.models.classifier import (
    ClassifierBundle,
    ClassifierMetadata,
    load_bundle,
    training_rows,
    wrap_estimator,
)
from cf_agent.proposers import Proposer
from cf_agent.tools.verdict import VerifierName

Progress = Callable[[int, int, dict[str, Any]], None]


class CheckResult(BaseModel):
    """One verifier's verdict on a returned CF."""

    passed: bool = Field(description="Every returned CF passed every check; kept for audit.")
    score: float = Field(description="The check's score in [0, 1] (docs/metrics.md).")


class Counterfactual(BaseModel):
    """One verified CF: its values, what changed, who wrote it and what each verifier said."""

    values: dict[str, Any] = Field(description="The full feature row of the counterfactual.")
    changes: dict[str, dict[str, Any]] = Field(
        description="Changed features: from, to, text, and delta and unit when numeric."
    )
    source: str = Field(description="The model string that wrote it, or 'refine'.")
    provenance: dict[str, str] = Field(description="Per changed feature, the step that set it.")
    round: int = Field(description="The LLM round it came from.")
    rationale: str = Field(description="The proposer's explanation.")
    verdicts: dict[VerifierName, CheckResult] = Field(description="Per verifier, its verdict.")


class PersonResult(BaseModel):
    """One person (query): the factual row, the outcome and the CFs found."""

    query_id: str
    status: str = Field(description="accepted, partial (fewer than k) or gave_up.")
    factual_class: int
    desired_class: int
    query: dict[str, Any] = Field(description="The factual feature row.")
    counterfactuals: list[Counterfactual]
    rounds: int = Field(description="LLM rounds used.")
    llm_calls: int
    seconds: float


class Provenance(BaseModel):
    """What produced the results: enough to find the run in the audit log and to rerun it."""

    run_id: str = Field(description="The run's id in the audit log.")
    audit_db: Path | None = Field(description="The audit log, or None when it was temporary.")
    settings: dict[str, Any] = Field(description="The run settings (API key left out).")
    spec_hash: str
    data_hash: str
    classifier: ClassifierMetadata


class Explanation(BaseModel):
    """What `explain` returns: per person its verified CFs, the run summary and provenance."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    spec: FeatureSpec
    people: list[PersonResult] | None = Field(
        description="Per person, in data order; None when explain(records=False)."
    )
    summary: RunSummary
    provenance: Provenance
    out: Path | None = Field(description="The results file, when one was asked for.")

    @property
    def counterfactuals(self) -> list[Counterfactual]:
        """Every verified CF, person after person."""
        return [cf for person in self._people() for cf in person.counterfactuals]

    def to_frame(self) -> pd.DataFrame:
        """One row per CF (a person without one gets a row saying so): the CSV output's rows."""
        rows = flat_rows(self.spec, (p.model_dump() for p in self._people()))
        frame = pd.DataFrame(rows)
        return frame.reindex(columns=flat_columns(self.spec, frame.columns))

    def _people(self) -> list[PersonResult]:
        if self.people is None:
            raise ValueError(f"explain(records=False) kept no results in memory: read {self.out}")
        return self.people


def _cohort(data: pd.DataFrame | str | Path, spec: FeatureSpec, bundle: ClassifierBundle) -> Cohort:
    """A data file, or a frame; a frame may lack the id (its index is used) and the label
    (the classifier's prediction stands in: the label never decides who is explained)."""
    if not isinstance(data, pd.DataFrame):
        return load_cohort(data, spec)
    frame = data
    if spec.id_column not in frame.columns:
        frame = frame.assign(**{spec.id_column: frame.index.astype(str)})
    if spec.label not in frame.columns:
        frame = frame.assign(**{spec.label: bundle.predict(frame)})
    return cohort_from_frame(frame, spec)


class CFAgent:
    """Verified counterfactual explanations of one classifier, from a notebook.

    `spec`: a FeatureSpec or the path of its TOML file. `classifier`: any fitted scikit-learn
    classifier with `predict_proba` (taking the spec's feature columns), or the folder of a
    `cf-agent train` bundle. `proposer`: a Proposer object to use instead of `model` (tests,
    custom methods). `settings`: those of `cf-agent run` (`model`, `k`, `max_rounds`, `margin`,
    ...; see RunSettings), validated here.
    """

    def __init__(
        self,
        spec: FeatureSpec | str | Path,
        classifier: Any,
        *,
        proposer: Proposer | None = None,
        **settings: Any,
    ) -> None:
        self.spec = spec
        self.classifier = classifier
        self.proposer = proposer
        self.settings = RunSettings.model_validate(settings)

    def fit(self, data: pd.DataFrame | str | Path) -> Self:
        """Learn from the classifier's training rows: with a bundle, the rows of `data` in its
        saved split (as `cf-agent run` does); with an estimator, all of `data`."""
        spec = self.spec if isinstance(self.spec, FeatureSpec) else load_spec(self.spec)
        from_bundle = isinstance(self.classifier, str | Path)
        if from_bundle:
            bundle = load_bundle(self.classifier, spec)
        else:
            bundle = wrap_estimator(self.classifier, spec)
        cohort = _cohort(data, spec, bundle)
        self.spec_, self.bundle_, self.data_, self.cohort_ = spec, bundle, data, cohort
        self.train_ = training_rows(cohort, self.classifier) if from_bundle else cohort.frame
        return self

    def explain(
        self,
        data: pd.DataFrame | str | Path | None = None,
        *,
        out: str | Path | None = None,
        audit: str | Path | None = None,
        overwrite: bool = False,
        records: bool = True,
        progress: Progress | None = None,
        planned: Callable[[int], None] | None = None,
    ) -> Explanation:
        """Propose, verify and revise CFs for every person in `data` (default: the data given
        to `fit`) whom the classifier puts outside the desired class.

        `out` (.jsonl, .csv, .parquet) keeps the results and makes an interrupted call resume;
        `audit` is the audit log (default: audit.db beside `out`; without `out`, a temporary
        one). `records=False` keeps results only in `out` (flat memory for big batches).
        `planned(people)` is called once the people are chosen, `progress(done, total, record)`
        as each person finishes.
        """
        from cf_agent.agent.runner import RunInputs, run_agent
        from cf_agent.models.baselines import BASELINE_METHODS, load_baseline

        if not hasattr(self, "train_"):
            raise NotFittedError("call fit(training rows) before explain")
        cohort = self.cohort_ if data is None else _cohort(data, self.spec_, self.bundle_)
        inputs = RunInputs(cohort, self.bundle_, self.train_)
        proposer = self.proposer
        if proposer is None and self.settings.model in BASELINE_METHODS:
            proposer = load_baseline(self.settings.model, self.spec_, self.bundle_, self.train_)
        with tempfile.TemporaryDirectory(prefix="cf-agent-") as scratch:
            source = self.data_ if data is None else data
            job = self._job(source, out or Path(scratch) / "results.jsonl", audit, overwrite)
            outcome = run_agent(job, proposer, progress, inputs, records, planned)
        keep_audit = out is not None or audit is not None
        settings = self.settings.model_dump(mode="json", exclude={"api_key"})
        return Explanation(
            spec=self.spec_,
            people=None
            if outcome.records is None
            else [PersonResult.model_validate(r) for r in outcome.records],
            summary=outcome.summary,
            provenance=Provenance(
                run_id=outcome.run_id,
                audit_db=outcome.audit_db if keep_audit else None,
                settings=settings,
                spec_hash=self.spec_.spec_hash(),
                data_hash=cohort.data_hash,
                classifier=self.bundle_.metadata,
            ),
            out=None if out is None else Path(out),
        )

    def _job(
        self, data: object, out: str | Path, audit: str | Path | None, overwrite: bool
    ) -> RunJob:
        """The run's options; with every input a file, the file names too, so that the audit
        log records them and `cf-agent tui` can re-check the run's CFs later."""
        job = {
            **self.settings.model_dump(),
            "out": out,
            "audit_db": audit,
            "overwrite": overwrite,
        }
        files = {"data": data, "spec": self.spec, "model_dir": self.classifier}
        if all(isinstance(v, str | Path) for v in files.values()):
            return RunOptions.model_validate({**job, **files})
        return RunJob.model_validate(job)
