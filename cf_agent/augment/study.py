"""`cf-agent augment` as a service: does adding CFs recover the F1 lost to scarce minority labels?

For each scenario (keep fraction) and seed: the scarce training rows, a classifier trained on
them, and one arm per remedy (scarce alone, + CFs of each method, + SMOTE, + random
oversampling), plus the full-data ceiling per seed; every arm is scored on the same untouched
test split. Each finished (scenario, seed, arm) unit and each generated CF batch is journalled
(fsynced JSONL under journal/), so a killed study resumes where it stopped; a rerun with more
methods, keep fractions or seeds only runs the new units; --overwrite starts afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field, SecretStr, field_validator

from cf_agent.agent.journal import ResultJournal
from cf_agent.augment.arms import (
    ARM_FULL,
    ARM_SCARCE,
    CF_ARM_PREFIX,
    RESAMPLING_ARMS,
    OversampleMode,
    Resampler,
    cf_arm,
    fit_classifier,
    resample,
    score_classifier,
    synthetic_count,
    with_counterfactuals,
)
from cf_agent.augment.generate import (
    AgentSettings,
    BatchTag,
    GeneratedRow,
    agent_rows,
    augmentation_spec,
    baseline_rows,
    pick_sources,
    wrap_scarce_model,
)
from cf_agent.augment.report import StudyFiles, write_study
from cf_agent.augment.scenarios import (
    MIN_KEPT,
    Scenario,
    kept_count,
    minority_class,
    scarce_training,
    scenario_name,
    split_frames,
    stratified_split,
)
from cf_agent.augment.summary import average_over_scenarios, per_seed, summarize
from cf_agent.data.cohort import Cohort, frame_from_rows, load_cohort
from cf_agent.data.spec import FeatureSpec, load_spec, save_spec
from cf_agent.errors import DataError
from cf_agent.models.classifier import ModelKind, load_split
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.models.proposer import Proposer
from cf_agent.models.registry import is_model_string, load_backend
from cf_agent.prompts.render import load_prompt
from cf_agent.study_dir import (
    JOURNAL_DIR,
    RUNS_DIR,
    check_methods,
    prepare_study_dir,
    study_fingerprint,
)

META_FILE = "augment.json"
SPEC_FILE = "augment-spec.toml"

ProgressFn = Callable[[str, int, int], None]


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class AugmentOptions(BaseModel):
    """Everything `cf-agent augment` takes. keep, seeds and methods may grow between calls;
    the other result-shaping options must stay the same for a study to resume."""

    data: Path
    spec: Path
    out: Path = Field(description="Directory for the report, CSVs, figure, journals and runs.")
    classifier: Path | None = Field(
        default=None, description="Bundle whose saved split to reuse; else a fresh split."
    )
    test_size: float = Field(default=0.25, gt=0, lt=1, description="Fresh split only.")
    split_seed: int = Field(default=0, ge=0, description="Fresh split only.")
    classifier_kind: ModelKind = Field(default="gbm", description="The same for every arm.")
    keep: tuple[float, ...] = Field(
        default=(0.5, 0.25, 0.1), min_length=1, description="Minority shares kept."
    )
    seeds: int = Field(default=5, ge=1, description="Seeds 0..seeds-1 per scenario.")
    methods: tuple[str, ...] = Field(
        default=("embedded", "dice-random"), description="CF methods (model strings, baselines)."
    )
    max_cfs: int = Field(default=40, ge=1, description="CFs sought per scenario and seed.")
    max_rounds: int = Field(default=1, ge=1, le=20, description="LLM rounds before refinement.")
    oversample: OversampleMode = Field(
        default="match", description="SMOTE/oversampling: as many rows as CFs sought, or balance."
    )
    require_plausible: bool = Field(default=True, description="Use only plausible CFs.")
    time_limit_s: float = Field(default=10.0, gt=0, description="Per row, per baseline.")
    prompt: str = "zero_shot"
    revise_prompt: str = "revise"
    base_url: str | None = None
    api_key: SecretStr | None = None
    batch_size: int = Field(default=8, ge=1)
    concurrency: int = Field(default=4, ge=1)
    overwrite: bool = False
    command: str = Field(default="", description="The command line, quoted in the report.")

    _split_keep = field_validator("keep", mode="before")(_split_list)
    _split_methods = field_validator("methods", mode="before")(_split_list)

    @field_validator("keep")
    @classmethod
    def _check_keep(cls, keep: tuple[float, ...]) -> tuple[float, ...]:
        for value in keep:
            if not 0 < value < 1:
                raise ValueError(f"keep fractions must lie between 0 and 1, got {value:g}")
        names = [scenario_name(k) for k in keep]
        if len(set(names)) != len(names):
            raise ValueError(f"keep fractions repeat: {', '.join(names)}")
        return keep

    @field_validator("methods")
    @classmethod
    def _unique_methods(cls, methods: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(methods))


class AugmentOutcome(BaseModel):
    out: Path
    files: StudyFiles
    summary: list[dict[str, Any]] = Field(description="summary.csv's rows.")
    average: list[dict[str, Any]] = Field(description="Per arm, averaged over scenarios.")
    resumed: int = Field(description="Units taken from an earlier, interrupted study.")


def _split(options: AugmentOptions, cohort: Cohort) -> tuple[pd.DataFrame, str]:
    if options.classifier is not None:
        return load_split(options.classifier), f"saved split of {options.classifier}"
    split = stratified_split(cohort, options.test_size, options.split_seed)
    return split, f"stratified, test_size {options.test_size:g}, seed {options.split_seed}"


def _fingerprint(options: AugmentOptions, cohort: Cohort, split: pd.DataFrame) -> str:
    # keep, seeds and methods may grow; paths and speed settings may change.
    keyed = options.model_dump(
        mode="json",
        include={
            *("classifier_kind", "max_cfs", "max_rounds", "oversample"),
            *("require_plausible", "time_limit_s"),
        },
    )
    split_hash = hashlib.sha256(split.to_csv(index=False).encode()).hexdigest()
    prompts = (options.prompt, options.revise_prompt)
    return study_fingerprint(keyed, cohort, prompts, split=split_hash)


class _Study:
    """One study's state: data, journals, and the units still to run."""

    def __init__(
        self,
        options: AugmentOptions,
        spec: FeatureSpec,
        train: pd.DataFrame,
        test: pd.DataFrame,
        proposers: Mapping[str, Proposer],
        progress: ProgressFn | None,
    ) -> None:
        self.options = options
        self.spec = spec
        self.train = train
        self.test = test
        self.minority = minority_class(train[spec.label])
        self.cf_spec = augmentation_spec(spec, self.minority)
        self.proposers = dict(proposers)
        self.progress = progress
        self.units = ResultJournal(options.out / JOURNAL_DIR / "units.jsonl")
        self.batches = ResultJournal(options.out / JOURNAL_DIR / "cfs.jsonl")
        self.arms = [ARM_SCARCE, *(cf_arm(m) for m in options.methods), *RESAMPLING_ARMS]
        self.total = options.seeds * (1 + len(options.keep) * len(self.arms))
        self.done = 0

    def _tick(self, label: str) -> None:
        if self.progress is not None:
            self.progress(label, self.done, self.total)

    def _record(
        self,
        key: str,
        scenario: str,
        keep: float,
        seed: int,
        arm: str,
        train: pd.DataFrame,
        rows_added: int,
    ) -> None:
        model = fit_classifier(self.spec, self.options.classifier_kind, seed, train)
        scores = score_classifier(model, self.spec, self.test, self.minority)
        self.units.append(
            {
                "query_id": key,
                "scenario": scenario,
                "keep": keep,
                "seed": seed,
                "arm": arm,
                **scores,
                "rows_added": rows_added,
                "n_train": len(train),
                "n_test": len(self.test),
            }
        )

    def run(self) -> None:
        for seed in range(self.options.seeds):
            key = f"full/seed={seed}"
            if key not in self.units:
                self._tick(f"seed {seed}: full data")
                self._record(key, ARM_FULL, 1.0, seed, ARM_FULL, self.train, 0)
            self.done += 1
            self._tick(f"seed {seed}: full data")
        for keep in self.options.keep:
            for seed in range(self.options.seeds):
                self._run_scenario(keep, seed)

    def _run_scenario(self, keep: float, seed: int) -> None:
        scenario = scarce_training(self.train, self.spec.label, self.minority, keep, seed)
        target = min(scenario.removed, self.options.max_cfs)
        for arm in self.arms:
            key = f"{scenario.name}/seed={seed}/{arm}"
            label = f"{scenario.name} seed {seed}: {arm}"
            if key not in self.units:
                self._tick(label)
                train, added = self._training_set(arm, scenario, target, label)
                self._record(key, scenario.name, keep, seed, arm, train, added)
            self.done += 1
            self._tick(label)

    def _training_set(
        self, arm: str, scenario: Scenario, target: int, label: str
    ) -> tuple[pd.DataFrame, int]:
        """The arm's training rows (features and label) and how many rows it added."""
        if arm == ARM_SCARCE:
            return scenario.train, 0
        if arm in ("smote", "oversample"):
            resampler: Resampler = "smote" if arm == "smote" else "oversample"
            n_new = synthetic_count(
                self.options.oversample, scenario.train, self.spec.label, self.minority, target
            )
            train = resample(
                resampler, self.spec, scenario.train, self.minority, n_new, scenario.seed
            )
            return train, len(train) - len(scenario.train)
        rows = self._batch(scenario, arm.removeprefix(CF_ARM_PREFIX), target, label)
        used = [r.values for r in rows if r.used]
        if not used:
            return scenario.train, 0
        cf_rows = frame_from_rows(used, self.spec)
        return with_counterfactuals(self.spec, scenario.train, cf_rows, self.minority), len(used)

    def _batch(
        self, scenario: Scenario, method: str, target: int, label: str
    ) -> list[GeneratedRow]:
        """The CF batch of (scenario, seed, method): from the journal, or generated now with
        the scarce arm's classifier."""
        key = f"{scenario.name}/seed={scenario.seed}/{method}"
        if key in self.batches:
            return [GeneratedRow.model_validate(r) for r in self.batches.records[key]["rows"]]
        tag = BatchTag(
            method=method, scenario=scenario.name, keep=scenario.keep, seed=scenario.seed
        )
        seed, kind = scenario.seed, self.options.classifier_kind
        bundle = wrap_scarce_model(
            fit_classifier(self.spec, kind, seed, scenario.train), self.cf_spec
        )
        sources = pick_sources(self.cf_spec, scenario.train, bundle, target)

        def count(done: int, total: int) -> None:
            self._tick(f"{label} CF {done}/{total}")

        given = self.proposers.get(method)
        is_llm = given.is_llm if given is not None else is_model_string(method)
        if is_llm:
            work_dir = self.options.out / RUNS_DIR / f"{scenario.name}-seed{scenario.seed}"
            rows = agent_rows(
                tag,
                self.cf_spec,
                bundle,
                scenario.train,
                sources,
                work_dir,
                self._agent_settings(),
                proposer=given or self._llm_proposer(method),
                require_plausible=self.options.require_plausible,
                progress=count,
            )
        else:
            rows = baseline_rows(
                tag,
                self.cf_spec,
                bundle,
                scenario.train,
                sources,
                time_limit_s=self.options.time_limit_s,
                require_plausible=self.options.require_plausible,
                progress=count,
                proposer=given,
            )
        self.batches.append(
            {
                "query_id": key,
                "target": target,
                "sources": len(sources),
                "rows": [r.model_dump(mode="json") for r in rows],
            }
        )
        return rows

    def _agent_settings(self) -> AgentSettings:
        o = self.options
        return AgentSettings(
            max_rounds=o.max_rounds,
            prompt=o.prompt,
            revise_prompt=o.revise_prompt,
            batch_size=o.batch_size,
            concurrency=o.concurrency,
            base_url=o.base_url,
            api_key=o.api_key,
        )

    def _llm_proposer(self, method: str) -> Proposer:
        """Loaded once per method and reused by every scenario and seed."""
        if method not in self.proposers:
            o = self.options
            backend = load_backend(
                method,
                base_url=o.base_url,
                api_key=o.api_key.get_secret_value() if o.api_key else None,
                batch_size=o.batch_size,
                concurrency=o.concurrency,
            )
            self.proposers[method] = LLMProposer(
                backend, self.cf_spec, load_prompt(o.prompt), load_prompt(o.revise_prompt)
            )
        return self.proposers[method]

    def unit_keys(self) -> Iterator[str]:
        """The units this call asks for (the journal may hold more from earlier calls)."""
        for seed in range(self.options.seeds):
            yield f"full/seed={seed}"
            for keep in self.options.keep:
                for arm in self.arms:
                    yield f"{scenario_name(keep)}/seed={seed}/{arm}"

    def requested_rows(self) -> list[GeneratedRow]:
        rows = []
        for keep in self.options.keep:
            for seed in range(self.options.seeds):
                for method in self.options.methods:
                    record = self.batches.records[f"{scenario_name(keep)}/seed={seed}/{method}"]
                    rows += [GeneratedRow.model_validate(r) for r in record["rows"]]
        return rows

    def targets(self) -> dict[str, int]:
        """Per method, source rows asked for over every scenario and seed."""
        totals = dict.fromkeys(self.options.methods, 0)
        for keep in self.options.keep:
            for seed in range(self.options.seeds):
                for method in self.options.methods:
                    key = f"{scenario_name(keep)}/seed={seed}/{method}"
                    totals[method] += int(self.batches.records[key]["sources"])
        return totals


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


def _header(options: AugmentOptions, cohort: Cohort, split_text: str, study: _Study) -> list[str]:
    counts = study.train[cohort.spec.label].value_counts().sort_index()
    class_counts = ", ".join(f"class {c}: {n}" for c, n in counts.items())
    lines = [
        f"- command: `{options.command}`" if options.command else "",
        f"- data: {options.data} (hash {cohort.data_hash}, {len(cohort)} rows)",
        f"- spec: {cohort.spec.name} (hash {cohort.spec.spec_hash()}); CFs generated under "
        f"{SPEC_FILE} (desired class {study.minority}, directions relaxed to free)",
        f"- split: {split_text}; train {len(study.train)} ({class_counts}), "
        f"test {len(study.test)} (never changed)",
        f"- classifier: {options.classifier_kind}, seeds 0..{options.seeds - 1} "
        "(scenario draw, classifier, resampler and CF method seeded alike)",
        f"- minority class {study.minority}; kept: " + ", ".join(f"{k:.0%}" for k in options.keep),
        f"- CFs sought per scenario and seed: min(minority rows removed, {options.max_cfs}); "
        f"LLM rounds {options.max_rounds} then refinement; "
        + (
            "verified = valid, actionable and plausible"
            if options.require_plausible
            else "verified = valid and actionable"
        ),
        f"- SMOTE / oversampling rows: {options.oversample} "
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
    proposer, is_llm True, runs through the agent loop).
    """
    proposers = dict(proposers or {})
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
        shaped_by="data, spec, split, classifier kind, max CFs, rounds, oversampling, "
        "plausibility, time limit or prompts",
    )
    study = _Study(options, spec, train, test, proposers, progress)
    save_spec(study.cf_spec, options.out / SPEC_FILE)
    resumed = sum(key in study.units for key in study.unit_keys())
    study.run()

    scenarios = [scenario_name(k) for k in options.keep]
    arms = [ARM_SCARCE, *study.arms[1:], ARM_FULL]
    units = pd.DataFrame([study.units.records[key] for key in study.unit_keys()])
    seeded = per_seed(units, scenarios)
    summary = summarize(seeded, scenarios, arms)
    average = average_over_scenarios(summary, arms)
    files = write_study(
        options.out,
        _header(options, cohort, split_text, study),
        seeded,
        summary,
        average,
        study.requested_rows(),
        study.targets(),
        spec.feature_names,
        scenarios,
        arms,
    )
    return AugmentOutcome(
        out=options.out,
        files=files,
        summary=summary.to_dict(orient="records"),
        average=average.to_dict(orient="records"),
        resumed=resumed,
    )
