"""Counterfactual rows toward the minority class, from majority rows of the scarce training data.

The CFs are judged by cf-agent's own verifiers against the scarce model: a row is used for
training only if that model gives the minority class a lead of at least the study's margin and
the row keeps the immutable features (and, by default, passes the plausibility check). Such a
row is labelled with the minority class. A CF that barely flips the model sits on its boundary,
where the true label is a coin toss; the margin keeps such label noise out.

Augmentation moves people toward the *abnormal* class, against the spec's intervention
directions (bmi may only decrease, say), so generation uses a derived spec: desired class =
the minority class, increase_only / decrease_only features relaxed to free; immutable
features, ranges, max_change and the cross-feature rules stay as they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field, SecretStr
from threadpoolctl import threadpool_limits

from cf_agent.agent.runner import RunOptions, run_agent
from cf_agent.data.spec import FeatureSpec, save_spec
from cf_agent.fileio import atomic_path
from cf_agent.models.baselines import load_baseline
from cf_agent.models.classifier import SPLIT_COLUMN, ClassifierBundle, save_bundle, wrap_estimator
from cf_agent.models.registry import split_method
from cf_agent.proposers import CFRequest, Proposer
from cf_agent.study_dir import method_slug
from cf_agent.tools.actionability import ActionabilityCheck
from cf_agent.tools.classifier_check import ClassifierCheck
from cf_agent.tools.plausibility import PlausibilityCheck
from cf_agent.tools.verdict import Verdict
from cf_agent.tools.verifiers import Verifiers

CountFn = Callable[[int, int], None]


class BatchTag(BaseModel):
    """Which batch a generated row belongs to."""

    method: str = Field(description="CF method: a baseline name or an LLM model string.")
    scenario: str = Field(description="Scenario name, e.g. keep25.")
    keep: float = Field(description="Share of minority training rows kept.")
    seed: int = Field(description="Study seed (scenario draw, classifier, method).")


class GeneratedRow(BaseModel):
    """One counterfactual a method returned, its verdicts, and whether it became a training row."""

    method: str
    scenario: str
    keep: float
    seed: int
    source_id: str = Field(description="Person id of the majority row it was generated from.")
    source: str = Field(
        description="What produced the values: the method, or 'refine'/'search' (the search)."
    )
    classifier_passed: bool = Field(description="The scarce model predicts the minority class.")
    actionability_passed: bool = Field(description="Immutables kept, ranges and steps obeyed.")
    plausibility_passed: bool = Field(description="As typical as real training rows.")
    plausibility_score: float | None = Field(description="The plausibility check's score.")
    used: bool = Field(description="Added to the training data (verified).")
    values: dict[str, Any] = Field(description="The counterfactual's feature values.")


def augmentation_spec(spec: FeatureSpec, minority: int) -> FeatureSpec:
    """The spec CFs are generated under: desired class = minority, directions relaxed to free."""
    data = spec.model_dump()
    data["name"] = f"{spec.name}-augment"
    data["desired_class"] = minority
    for feature in data["features"]:
        if feature["actionability"] in ("increase_only", "decrease_only"):
            feature["actionability"] = "free"
    return FeatureSpec.model_validate(data)


def scarce_verifiers(
    spec: FeatureSpec, bundle: ClassifierBundle, train: pd.DataFrame, margin: float = 0.0
) -> Verifiers:
    """build_verifiers' checks for the scarce world: plausibility learnt from its rows, the
    minority class ahead by `margin`."""
    return Verifiers(
        classifier_check=ClassifierCheck(bundle, spec, margin=margin),
        actionability=ActionabilityCheck(spec),
        plausibility=PlausibilityCheck(spec).fit(train[spec.feature_names]),
    )


def _flags(verdicts: Sequence[Verdict] | dict[str, Any]) -> dict[str, Any]:
    by_check = (
        {v.check: {"passed": v.passed, "score": v.score} for v in verdicts}
        if not isinstance(verdicts, dict)
        else verdicts
    )
    return {
        "classifier_passed": bool(by_check["classifier"]["passed"]),
        "actionability_passed": bool(by_check["actionability"]["passed"]),
        "plausibility_passed": bool(by_check["plausibility"]["passed"]),
        "plausibility_score": by_check["plausibility"].get("score"),
    }


def _row(
    tag: BatchTag,
    source_id: str,
    source: str,
    values: dict[str, Any],
    verdicts: Sequence[Verdict] | dict[str, Any],
    require_plausible: bool,
) -> GeneratedRow:
    flags = _flags(verdicts)
    used = flags["classifier_passed"] and flags["actionability_passed"]
    used = used and (flags["plausibility_passed"] or not require_plausible)
    return GeneratedRow(
        **tag.model_dump(), source_id=source_id, source=source, used=used, values=values, **flags
    )


def baseline_rows(
    tag: BatchTag,
    spec: FeatureSpec,
    bundle: ClassifierBundle,
    train: pd.DataFrame,
    sources: pd.DataFrame,
    *,
    time_limit_s: float,
    require_plausible: bool,
    margin: float = 0.0,
    progress: CountFn | None = None,
    proposer: Proposer | None = None,
) -> list[GeneratedRow]:
    """One CF per source row from a classic baseline (search, DiCE, CFNOW, NICE) or the given
    proposer, each verified; `search` aims past the boundary by `margin` itself."""
    if sources.empty:
        return []
    if proposer is None:
        extra = {"margin": margin} if tag.method == "search" else {}
        proposer = load_baseline(
            tag.method, spec, bundle, train, time_limit_s=time_limit_s, seed=tag.seed, **extra
        )
    verifiers = scarce_verifiers(spec, bundle, train, margin)
    with threadpool_limits(limits=1):
        current = bundle.predict(sources[spec.feature_names])
    rows = []
    records = sources[spec.feature_names].to_dict(orient="records")
    ids = sources[spec.id_column].astype(str).tolist()
    for i, (source_id, query, cls) in enumerate(zip(ids, records, current, strict=True)):
        request = CFRequest(
            query_id=source_id,
            row=query,
            current_class=int(cls),
            desired_class=spec.desired_class,
        )
        with threadpool_limits(limits=1):
            proposal = proposer.propose([request])[0]
        if proposal.values is not None:
            with threadpool_limits(limits=1):
                verdicts = verifiers.check(query, proposal.values)
            rows.append(
                _row(tag, source_id, proposal.source, proposal.values, verdicts, require_plausible)
            )
        if progress is not None:
            progress(i + 1, len(ids))
    return rows


class AgentSettings(BaseModel):
    """What the agent arm passes on to `run_agent`."""

    max_rounds: int = Field(ge=1, le=20)
    prompt: str | None
    revise_prompt: str | None
    batch_size: int = Field(ge=1)
    concurrency: int = Field(ge=1)
    base_url: str | None = None
    api_key: SecretStr | None = None


def write_agent_inputs(
    spec: FeatureSpec,
    bundle: ClassifierBundle,
    train: pd.DataFrame,
    sources: pd.DataFrame,
    work_dir: Path,
) -> tuple[Path, Path, Path]:
    """data.csv (source rows first, then the other scarce rows), spec.toml and model/.

    run_agent plans the first n rows predicted outside the desired class: with the sources
    first and n = their number, that is exactly the sources. Every row is marked 'train', so
    plausibility is learnt from the scarce training rows.
    """
    data, spec_path, model_dir = work_dir / "data.csv", work_dir / "spec.toml", work_dir / "model"
    ordered = pd.concat([sources, train.drop(index=sources.index)])
    with atomic_path(data) as tmp:
        ordered.to_csv(tmp, index=False)
    save_spec(spec, spec_path)
    split = pd.DataFrame(
        {spec.id_column: ordered[spec.id_column].astype(str), SPLIT_COLUMN: "train"}, dtype=object
    )
    save_bundle(bundle, split, model_dir)
    return data, spec_path, model_dir


def agent_rows(
    tag: BatchTag,
    spec: FeatureSpec,
    bundle: ClassifierBundle,
    train: pd.DataFrame,
    sources: pd.DataFrame,
    work_dir: Path,
    settings: AgentSettings,
    *,
    proposer: Proposer | None,
    require_plausible: bool,
    margin: float = 0.0,
    progress: CountFn | None = None,
) -> list[GeneratedRow]:
    """One CF per source row from the agent; resumable. `embedded` is the LLM alone,
    `embedded+refine` lets the search finish (rows labelled refine/search). The agent verifies
    at margin 0; the classifier check is redone here at `margin`."""
    if sources.empty:
        return []
    out = work_dir / f"{method_slug(tag.method)}.jsonl"
    if not out.exists():
        data, spec_path, model_dir = write_agent_inputs(spec, bundle, train, sources, work_dir)
        options = RunOptions(
            data=data,
            spec=spec_path,
            model_dir=model_dir,
            out=out,
            model=split_method(tag.method)[0],
            refine=split_method(tag.method)[1],
            prompt=settings.prompt,
            revise_prompt=settings.revise_prompt,
            k=1,
            max_rounds=settings.max_rounds,
            n=len(sources),
            audit_db=work_dir / "audit.db",
            base_url=settings.base_url,
            api_key=settings.api_key,
            batch_size=settings.batch_size,
            concurrency=settings.concurrency,
        )
        run_agent(
            options,
            proposer=proposer,
            progress=None if progress is None else lambda done, total, _: progress(done, total),
        )
    check = ClassifierCheck(bundle, spec, margin=margin)
    queries = sources.set_index(sources[spec.id_column].astype(str))[spec.feature_names]
    rows = []
    for line in out.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        query = queries.loc[str(record["query_id"])].to_dict()
        for cf in record["counterfactuals"]:
            verdicts = {**cf["verdicts"]}
            with threadpool_limits(limits=1):
                passed = check.check(query, cf["values"]).passed
            verdicts["classifier"] = {**verdicts["classifier"], "passed": passed}
            rows.append(
                _row(
                    tag,
                    str(record["query_id"]),
                    cf["source"],
                    cf["values"],
                    verdicts,
                    require_plausible,
                )
            )
    return rows


def wrap_scarce_model(model: Any, spec: FeatureSpec) -> ClassifierBundle:
    """The scarce pipeline as a bundle for the augmentation spec."""
    return wrap_estimator(model, spec, data_hash="augment")
