"""The files a run used (data, spec, classifier), found again from its audit-log config.

A run records the paths it was given. Relative paths are tried from the working directory, then
from the audit log's directory (where `cf-agent run` puts it by default), so a project folder
can move as a whole. Each part loads on first use and raises a CfAgentError naming the missing
file, so a reviewer can still read the log when the data has moved.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from cf_agent.audit.store import AuditRun
from cf_agent.data.cohort import Cohort, load_cohort
from cf_agent.data.spec import FeatureSpec, load_spec
from cf_agent.errors import CfAgentError, DataError, ModelFileError, SpecError
from cf_agent.models.classifier import ClassifierBundle, load_bundle
from cf_agent.review.history import QueryHistory
from cf_agent.tools.verifiers import Verifiers


class RunMaterials:
    """Spec, cohort, classifier and verifiers of one run, each loaded on first use."""

    def __init__(self, run: AuditRun, audit_dir: Path) -> None:
        self.run = run
        self.audit_dir = audit_dir

    @property
    def config(self) -> dict[str, Any]:
        return self.run.config

    def locate(self, key: str, what: str, error: type[CfAgentError]) -> Path:
        """The existing file or folder the run's config names under `key`."""
        recorded = self.config.get(key)
        if not isinstance(recorded, str) or not recorded:
            raise error(
                f"run {self.run.run_id} did not record its {what} ({key!r} is not in its config)",
                "only runs of `cf-agent run` can be re-checked; this one can still be read",
            )
        path = Path(recorded)
        tried = [path] if path.is_absolute() else [path, self.audit_dir / path]
        for candidate in tried:
            if candidate.exists():
                return candidate
        raise error(
            f"the {what} of run {self.run.run_id} is no longer at "
            + " or ".join(str(p) for p in tried),
            f"move it back to {recorded}, or open the audit log from the folder the run used",
        )

    @cached_property
    def spec(self) -> FeatureSpec:
        return load_spec(self.locate("spec", "feature spec", SpecError))

    @cached_property
    def cohort(self) -> Cohort:
        return load_cohort(self.locate("data", "data file", DataError), self.spec)

    @cached_property
    def bundle(self) -> ClassifierBundle:
        return load_bundle(self.locate("model_dir", "classifier", ModelFileError), self.spec)

    @cached_property
    def verifiers(self) -> Verifiers:
        # The runner module pulls in the LLM stack (torch): import it only when checks are needed.
        from cf_agent.agent.runner import build_verifiers

        spec, cohort, bundle = self.spec, self.cohort, self.bundle  # reported in this order
        model_dir = self.locate("model_dir", "classifier", ModelFileError)
        margin = float(self.config.get("margin") or 0.0)
        return build_verifiers(spec, bundle, cohort, model_dir, margin)

    def prepare(self) -> list[str]:
        """Load everything re-verifying needs now; return how the files differ from the run's."""
        _ = self.verifiers
        return self.warnings()

    def warnings(self) -> list[str]:
        """Differences between the files found now and the ones the run hashed."""
        notes = []
        recorded_spec = self.config.get("spec_hash")
        if recorded_spec and recorded_spec != self.spec.spec_hash():
            notes.append("the feature spec changed since the run: units and rules may differ")
        recorded_data = self.config.get("data_hash")
        if recorded_data and recorded_data != self.cohort.data_hash:
            notes.append("the data file changed since the run: the factual rows may differ")
        return notes

    def factual(self, query: QueryHistory) -> tuple[dict[str, Any], str]:
        """The person's feature row and where it came from: the data file, else the prompt."""
        try:
            return self.cohort.row(query.query_id), "data file"
        except (DataError, SpecError) as exc:
            if query.factual_from_prompt is not None:
                return dict(query.factual_from_prompt), "the prompt in the audit log"
            raise DataError(
                f"no factual row for query {query.query_id}: {exc.message}",
                exc.fix or "restore the run's data file",
            ) from exc
