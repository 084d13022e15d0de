"""Service functions behind CLI commands that are not big enough for a module of their own."""

from __future__ import annotations

from pathlib import Path

from cf_agent.audit.migrations import AuditError
from cf_agent.audit.store import AuditStore
from cf_agent.data.cohort import load_cohort
from cf_agent.data.spec import load_spec
from cf_agent.errors import CfAgentError
from cf_agent.models.classifier import ClassifierMetadata, save_bundle, train_classifier

MODEL_KINDS = ("gbm", "logreg", "rf", "mlp")


def train_and_save(
    data: Path, spec_path: Path, out: Path, kind: str, test_size: float, seed: int
) -> ClassifierMetadata:
    """Load and validate the data, train on a stratified split, save bundle and split."""
    if kind not in MODEL_KINDS:
        raise CfAgentError(
            f"unknown classifier kind {kind!r}", f"use one of {', '.join(MODEL_KINDS)}"
        )
    if not 0 < test_size < 1:
        raise CfAgentError(f"--test-size must be between 0 and 1, got {test_size}", "e.g. 0.25")
    spec = load_spec(spec_path)
    cohort = load_cohort(data, spec)
    result = train_classifier(cohort, kind=kind, test_size=test_size, seed=seed)  # type: ignore[arg-type]
    save_bundle(result.bundle, result.split, out)
    return result.bundle.metadata


def open_audit(db: Path) -> AuditStore:
    """Open an existing audit log; a missing file is an error, not a new empty log."""
    if not db.is_file():
        raise AuditError(f"audit log not found: {db}", "pass --db PATH to an existing audit.db")
    return AuditStore(db)
