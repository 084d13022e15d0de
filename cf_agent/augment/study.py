"""`cf-agent augment` as a service: where do added CF rows recover the F1 lost to scarce labels?

For each scenario (keep fraction) and seed: the scarce training rows; CFs generated once from
majority rows (in the --sources order) against the scarce model of --teacher-kind and verified
by it at --margin; then, for every classifier kind and every count of --rows, one arm per CF
method and --pull value (the first n verified CF rows, as they are or pulled toward minority
rows) and per resampler (n synthetic rows: matched row for row), beside the scarce arm and the
full-data ceiling per seed; every arm is scored on the same untouched test split. Each
finished unit and each CF chunk is journalled (fsynced JSONL under journal/), so a killed study
resumes where it stopped; a rerun with more keep fractions, seeds, methods, pulls, resamplers,
classifier kinds or counts only runs the new units; --overwrite starts afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib.metadata import version

import pandas as pd

from cf_agent.augment.options import AugmentOptions, AugmentOutcome, ProgressFn, rows_token
from cf_agent.augment.report import write_study
from cf_agent.augment.scenarios import (
    MIN_KEPT,
    kept_count,
    minority_class,
    scenario_name,
    split_frames,
    stratified_split,
)
from cf_agent.augment.summary import average_over_scenarios, per_seed, summarize
from cf_agent.augment.units import Study
from cf_agent.data.cohort import Cohort, load_cohort
from cf_agent.data.spec import FeatureSpec, load_spec, save_spec
from cf_agent.errors import DataError
from cf_agent.fingerprint import options_fingerprint
from cf_agent.locks import exclusive
from cf_agent.models.classifier import load_split
from cf_agent.proposers import Proposer
from cf_agent.study_dir import check_methods, prepare_study_dir

META_FILE = "augment.json"
SPEC_FILE = "augment-spec.toml"


def _split(options: AugmentOptions, cohort: Cohort) -> tuple[pd.DataFrame, str]:
    if options.classifier is not None:
        return load_split(options.classifier), f"saved split of {options.classifier}"
    split = stratified_split(cohort, options.test_size, options.split_seed)
    return split, f"stratified, test_size {options.test_size:g}, seed {options.split_seed}"


def _fingerprint(options: AugmentOptions, cohort: Cohort, split: pd.DataFrame) -> str:
    # keep, seeds, methods, pull, resamplers, kinds and rows may grow; paths and speed may change.
    keyed = options.model_dump(
        mode="json",
        include={
            *("teacher_kind", "sources", "margin", "max_rounds"),
            *("require_plausible", "time_limit_s"),
        },
    )
    split_hash = hashlib.sha256(split.to_csv(index=False).encode()).hexdigest()
    prompts = (options.prompt, options.revise_prompt)
    return options_fingerprint(keyed, cohort, prompts, split=split_hash)


def _check_scenarios(options: AugmentOptions, train: pd.DataFrame, spec: FeatureSpec) -> None:
    minority = minority_class(train[spec.label])
    n_minority = int((train[spec.label] == minority).sum())
    for keep in options.keep:
        if kept_count(keep, n_minority) < MIN_KEPT:
            raise DataError(
                f"keeping {keep:g} of the {n_minority} training rows of the minority class "
                f"{minority} leaves fewer than {MIN_KEPT}",
                "use larger --keep fractions or more data",
            )


def _header(options: AugmentOptions, cohort: Cohort, split_text: str, study: Study) -> list[str]:
    counts = study.train[cohort.spec.label].value_counts().sort_index()
    class_counts = ", ".join(f"class {c}: {n}" for c, n in counts.items())
    lines = [
        f"- command: `{options.command}`" if options.command else "",
        f"- data: {options.data} (hash {cohort.data_hash}, {len(cohort)} rows)",
        f"- spec: {cohort.spec.name} (hash {cohort.spec.spec_hash()}); CFs generated under "
        f"{SPEC_FILE} (desired class {study.minority}, directions relaxed to free)",
        f"- split: {split_text}; train {len(study.train)} ({class_counts}), "
        f"test {len(study.test)} (never changed)",
        f"- classifiers: {', '.join(options.classifier_kinds)}, each scored separately; seeds "
        f"0..{options.seeds - 1} (scenario draw, classifier, resampler and CF method seeded "
        "alike)",
        f"- minority class {study.minority}; kept: " + ", ".join(f"{k:.0%}" for k in options.keep),
        "- rows added per arm: "
        + ", ".join(rows_token(r) for r in options.rows)
        + " (cut to the class gap; the resamplers add as many as the CF arms seek)",
        f"- CFs: methods {', '.join(options.methods) or 'none'}; sources {options.sources}; "
        f"generated against and verified by the scarce {options.teacher_kind} model, margin "
        f"{options.margin:g} on p(minority) - p(other); LLM rounds {options.max_rounds} then "
        "refinement; pull "
        + ", ".join(f"{p:g}" for p in options.pull)
        + " (0: the CF rows as they are; p: each moved up to p of the way toward one of its 5 "
        "nearest minority rows); "
        + (
            "verified = valid, actionable and plausible"
            if options.require_plausible
            else "verified = valid and actionable"
        ),
        f"- resamplers: {', '.join(options.resamplers) or 'none'} "
        f"(imbalanced-learn {version('imbalanced-learn')})",
        f"- written {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
    ]
    return [line for line in lines if line]


def run_study(
    options: AugmentOptions,
    proposers: Mapping[str, Proposer] | None = None,
    progress: ProgressFn | None = None,
) -> AugmentOutcome:
    """Run (or resume) the scenarios and arms, then write the table, figure and rows.

    `proposers` maps CF method names to ready proposers used instead of loading them (an LLM
    proposer, is_llm True, runs through the agent loop). The output folder is held for the
    study: a second one on it is refused.
    """
    with exclusive([options.out], "cf-agent augment"):
        return _run_study(options, dict(proposers or {}), progress)


def _run_study(
    options: AugmentOptions, proposers: dict[str, Proposer], progress: ProgressFn | None
) -> AugmentOutcome:
    check_methods(options.methods, proposers)
    spec = load_spec(options.spec)
    cohort = load_cohort(options.data, spec)
    split, split_text = _split(options, cohort)
    train, test = split_frames(cohort, split)
    _check_scenarios(options, train, spec)
    prepare_study_dir(
        options.out,
        META_FILE,
        _fingerprint(options, cohort, split),
        overwrite=options.overwrite,
        what="a study",
        shaped_by="data, spec, split, teacher kind, sources, margin, rounds, plausibility, "
        "time limit or prompts",
    )
    study = Study(options, spec, train, test, proposers, progress)
    save_spec(study.cf_spec, options.out / SPEC_FILE)
    resumed = sum(key in study.units for key in study.unit_keys())
    study.run()

    scenarios = [scenario_name(k) for k in options.keep]
    units = pd.DataFrame([study.units.records[key] for key in study.unit_keys()])
    seeded = per_seed(units, scenarios)
    summary = summarize(seeded)
    average = average_over_scenarios(summary)
    files = write_study(
        options.out,
        _header(options, cohort, split_text, study),
        seeded,
        summary,
        average,
        study.requested_rows(),
        study.targets(),
        spec.feature_names,
    )
    return AugmentOutcome(
        out=options.out,
        files=files,
        summary=summary.to_dict(orient="records"),
        average=average.to_dict(orient="records"),
        resumed=resumed,
    )
