"""`cf-agent augment` as a service: where do added CF rows recover the F1 lost to scarce labels?

For each scenario (keep fraction) and seed: the scarce training rows; CFs generated once from
majority rows (in the --sources order) against the scarce model of --teacher-kind and verified
by it at --margin; then, for every classifier kind and every count of --rows, one arm per CF
method (the first n verified CF rows) and per resampler (n synthetic rows: matched row for row),
beside the scarce arm and the full-data ceiling per seed; every arm is scored on the same
untouched test split. Each finished unit and each CF chunk is journalled (fsynced JSONL under
journal/), so a killed study resumes where it stopped; a rerun with more keep fractions, seeds,
methods, resamplers, classifier kinds or counts only runs the new units; --overwrite starts
afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal, cast

import pandas as pd
from pydantic import BaseModel, Field, SecretStr, field_validator

from cf_agent.agent.journal import ResultJournal
from cf_agent.augment.arms import (
    ARM_FULL,
    ARM_SCARCE,
    CF_ARM_PREFIX,
    Resampler,
    cf_arm,
    class_gap,
    fit_classifier,
    resample,
    score_classifier,
    with_counterfactuals,
)
from cf_agent.augment.generate import (
    AgentSettings,
    BatchTag,
    GeneratedRow,
    agent_rows,
    augmentation_spec,
    baseline_rows,
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
from cf_agent.augment.sources import SourceOrder, order_sources
from cf_agent.augment.summary import average_over_scenarios, per_seed, summarize
from cf_agent.augment.teacher import FastPipeline
from cf_agent.data.cohort import Cohort, frame_from_rows, load_cohort
from cf_agent.data.spec import FeatureSpec, load_spec, save_spec
from cf_agent.errors import DataError
from cf_agent.locks import exclusive
from cf_agent.models.classifier import ClassifierBundle, ModelKind, load_split
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.models.proposer import Proposer
from cf_agent.models.registry import default_prompt, is_model_string, load_backend, split_method
from cf_agent.prompts.render import load_prompts
from cf_agent.study_dir import (
    JOURNAL_DIR,
    RUNS_DIR,
    check_methods,
    prepare_study_dir,
    study_fingerprint,
)

META_FILE = "augment.json"
SPEC_FILE = "augment-spec.toml"
CHUNK = 25  # source rows per journalled CF chunk
BALANCE = "balance"
ALL_KINDS: tuple[ModelKind, ...] = ("gbm", "logreg", "rf", "mlp")

ProgressFn = Callable[[str, int, int], None]
RowCount = int | Literal["balance"]


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _split_counts(value: Any) -> Any:
    value = _split_list(value)
    if isinstance(value, tuple):
        return tuple(v if v == BALANCE else int(v) for v in value)
    return value


def rows_token(count: RowCount) -> str:
    """'40' or 'balance': the count as journal keys and tables name it."""
    return str(count)


class AugmentOptions(BaseModel):
    """Everything `cf-agent augment` takes. keep, seeds, methods, resamplers, classifier kinds
    and rows may grow between calls; the other result-shaping options must stay the same for a
    study to resume. The defaults are the best setting measured on the demo cohort
    (docs/augmentation.md)."""

    data: Path
    spec: Path
    out: Path = Field(description="Directory for the report, CSVs, figure, journals and runs.")
    classifier: Path | None = Field(
        default=None, description="Bundle whose saved split to reuse; else a fresh split."
    )
    test_size: float = Field(default=0.25, gt=0, lt=1, description="Fresh split only.")
    split_seed: int = Field(default=0, ge=0, description="Fresh split only.")
    classifier_kinds: tuple[ModelKind, ...] = Field(
        default=ALL_KINDS, min_length=1, description="Classifier kinds, each scored separately."
    )
    teacher_kind: ModelKind = Field(
        default="gbm",
        description="Kind of the scarce model the CFs are generated against and verified by; "
        "the same CF rows then serve every classifier kind, as SMOTE's rows do.",
    )
    keep: tuple[float, ...] = Field(
        default=(0.5, 0.25, 0.1), min_length=1, description="Minority shares kept."
    )
    seeds: int = Field(default=5, ge=1, description="Seeds 0..seeds-1 per scenario.")
    methods: tuple[str, ...] = Field(
        default=("search",), description="CF methods (baselines, LLM model strings)."
    )
    resamplers: tuple[Resampler, ...] = Field(
        default=("smote",), description="imbalanced-learn arms beside the CFs."
    )
    rows: tuple[RowCount, ...] = Field(
        default=(25, 100),
        min_length=1,
        description="Rows each arm adds (a count, or 'balance': up to the largest class); "
        "counts past balance are cut to it.",
    )
    sources: SourceOrder = Field(
        default="boundary", description="Which majority rows the CFs start from, in what order."
    )
    margin: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="A CF is used only if the teacher puts p(minority) - p(other) at least "
        "this far past the boundary; search aims for it.",
    )
    max_rounds: int = Field(default=1, ge=1, le=20, description="LLM rounds before refinement.")
    require_plausible: bool = Field(default=True, description="Use only plausible CFs.")
    time_limit_s: float = Field(default=10.0, gt=0, description="Per row, per baseline.")
    prompt: str | None = Field(default=None, description="LLMs: None is each model's default.")
    revise_prompt: str | None = Field(default=None, description="LLMs: None is the prompt's own.")
    base_url: str | None = None
    api_key: SecretStr | None = None
    batch_size: int = Field(default=8, ge=1)
    concurrency: int = Field(default=4, ge=1)
    overwrite: bool = False
    command: str = Field(default="", description="The command line, quoted in the report.")

    _split_keep = field_validator("keep", mode="before")(_split_list)
    _split_methods = field_validator("methods", mode="before")(_split_list)
    _split_resamplers = field_validator("resamplers", mode="before")(_split_list)
    _split_kinds = field_validator("classifier_kinds", mode="before")(_split_list)
    _split_rows = field_validator("rows", mode="before")(_split_counts)

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

    @field_validator("rows")
    @classmethod
    def _check_rows(cls, rows: tuple[RowCount, ...]) -> tuple[RowCount, ...]:
        for value in rows:
            if value != BALANCE and int(value) < 1:
                raise ValueError(f"rows must be positive counts or 'balance', got {value}")
        return tuple(dict.fromkeys(rows))

    @field_validator("methods", "resamplers", "classifier_kinds")
    @classmethod
    def _unique(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(values))


class AugmentOutcome(BaseModel):
    out: Path
    files: StudyFiles
    summary: list[dict[str, Any]] = Field(description="summary.csv's rows.")
    average: list[dict[str, Any]] = Field(description="Per kind, count and arm, over scenarios.")
    resumed: int = Field(description="Units taken from an earlier, interrupted study.")


def _split(options: AugmentOptions, cohort: Cohort) -> tuple[pd.DataFrame, str]:
    if options.classifier is not None:
        return load_split(options.classifier), f"saved split of {options.classifier}"
    split = stratified_split(cohort, options.test_size, options.split_seed)
    return split, f"stratified, test_size {options.test_size:g}, seed {options.split_seed}"


def _fingerprint(options: AugmentOptions, cohort: Cohort, split: pd.DataFrame) -> str:
    # keep, seeds, methods, resamplers, kinds and rows may grow; paths and speed may change.
    keyed = options.model_dump(
        mode="json",
        include={
            *("teacher_kind", "sources", "margin", "max_rounds"),
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
        self.added_arms = [*(cf_arm(m) for m in options.methods), *options.resamplers]
        per_scenario = len(options.classifier_kinds) * (
            1 + len(options.rows) * len(self.added_arms)
        )
        self.total = options.seeds * (
            len(options.classifier_kinds) + len(options.keep) * per_scenario
        )
        self.done = 0

    def _tick(self, label: str) -> None:
        if self.progress is not None:
            self.progress(label, self.done, self.total)

    def _unit(
        self,
        key: str,
        label: str,
        fields: dict[str, Any],
        train: Callable[[], tuple[pd.DataFrame, int]],
    ) -> None:
        """Fit and score one unit unless the journal has it; `train` builds its rows."""
        if key not in self.units:
            self._tick(label)
            frame, added = train()
            model = fit_classifier(self.spec, fields["kind"], fields["seed"], frame)
            scores = score_classifier(model, self.spec, self.test, self.minority)
            self.units.append(
                {
                    "query_id": key,
                    **fields,
                    **scores,
                    "rows_added": added,
                    "n_train": len(frame),
                    "n_test": len(self.test),
                }
            )
        self.done += 1
        self._tick(label)

    def run(self) -> None:
        for seed in range(self.options.seeds):
            for kind in self.options.classifier_kinds:
                fields = {"scenario": ARM_FULL, "keep": 1.0, "seed": seed, "kind": kind}
                self._unit(
                    f"full/seed={seed}/{kind}",
                    f"seed {seed} {kind}: full data",
                    {**fields, "arm": ARM_FULL, "rows": "0", "rows_sought": 0},
                    lambda: (self.train, 0),
                )
        for keep in self.options.keep:
            for seed in range(self.options.seeds):
                self._run_scenario(keep, seed)

    def _run_scenario(self, keep: float, seed: int) -> None:
        scenario = scarce_training(self.train, self.spec.label, self.minority, keep, seed)
        gap = class_gap(scenario.train, self.spec.label, self.minority)
        sought = {
            rows_token(r): gap if r == BALANCE else min(int(r), gap) for r in self.options.rows
        }
        cf_rows: dict[str, pd.DataFrame] = {}

        def build(arm: str, n: int, label: str) -> tuple[pd.DataFrame, int]:
            if arm.startswith(CF_ARM_PREFIX):
                method = arm.removeprefix(CF_ARM_PREFIX)
                if method not in cf_rows:
                    cf_rows[method] = self._cf_rows(scenario, method, max(sought.values()), label)
                used = cf_rows[method].iloc[:n]
                return with_counterfactuals(self.spec, scenario.train, used, self.minority), len(
                    used
                )
            resampler = cast(Resampler, arm)
            frame = resample(resampler, self.spec, scenario.train, self.minority, n, seed)
            return frame, len(frame) - len(scenario.train)

        for kind in self.options.classifier_kinds:
            base = {"scenario": scenario.name, "keep": keep, "seed": seed, "kind": kind}
            prefix = f"{scenario.name}/seed={seed}/{kind}"
            self._unit(
                f"{prefix}/{ARM_SCARCE}",
                f"{scenario.name} seed {seed} {kind}: {ARM_SCARCE}",
                {**base, "arm": ARM_SCARCE, "rows": "0", "rows_sought": 0},
                lambda: (scenario.train, 0),
            )
            for token, n in sought.items():
                for arm in self.added_arms:
                    label = f"{scenario.name} seed {seed} {kind}: {arm} +{token}"
                    self._unit(
                        f"{prefix}/{arm}/rows={token}",
                        label,
                        {**base, "arm": arm, "rows": token, "rows_sought": n},
                        partial(build, arm, n, label),
                    )

    def _cf_rows(self, scenario: Scenario, method: str, needed: int, label: str) -> pd.DataFrame:
        """The first `needed` verified CF rows of the method (fewer if the sources run out),
        generated chunk by chunk along the source order (each chunk asks for the rows still
        missing, at most CHUNK), each chunk journalled."""
        bundle = self._teacher(scenario)
        sources = order_sources(
            self.cf_spec, scenario.train, bundle, self.options.sources, scenario.seed
        )
        used: list[dict[str, Any]] = []
        start = 0
        while start < len(sources) and len(used) < needed:
            size = min(CHUNK, needed - len(used))
            rows, tried = self._chunk(scenario, method, start, sources, size, bundle, label)
            used += [r.values for r in rows if r.used]
            start += tried
        if not used:
            return pd.DataFrame(columns=self.spec.feature_names)
        return frame_from_rows(used[:needed], self.spec)

    def _teacher(self, scenario: Scenario) -> ClassifierBundle:
        model = fit_classifier(self.spec, self.options.teacher_kind, scenario.seed, scenario.train)
        return wrap_scarce_model(FastPipeline(model, self.spec), self.cf_spec)

    def _chunk(
        self,
        scenario: Scenario,
        method: str,
        start: int,
        ordered: pd.DataFrame,
        size: int,
        bundle: ClassifierBundle,
        label: str,
    ) -> tuple[list[GeneratedRow], int]:
        """CFs for the source rows from `start` on (`size` of them, or as many as a journalled
        chunk there tried) and how many sources that was."""
        key = f"{scenario.name}/seed={scenario.seed}/{method}/from={start}"
        if key in self.batches:
            record = self.batches.records[key]
            rows = [GeneratedRow.model_validate(r) for r in record["rows"]]
            return rows, int(record["sources"])
        sources = ordered.iloc[start : start + size]
        tag = BatchTag(
            method=method, scenario=scenario.name, keep=scenario.keep, seed=scenario.seed
        )

        def count(done: int, total: int) -> None:
            self._tick(f"{label}: CF {start + done}")

        given = self.proposers.get(method)
        is_llm = given.is_llm if given is not None else is_model_string(method)
        o = self.options
        if is_llm:
            work_dir = o.out / RUNS_DIR / f"{scenario.name}-seed{scenario.seed}-from{start}"
            rows = agent_rows(
                tag,
                self.cf_spec,
                bundle,
                scenario.train,
                sources,
                work_dir,
                self._agent_settings(),
                proposer=given or self._llm_proposer(method),
                require_plausible=o.require_plausible,
                margin=o.margin,
                progress=count,
            )
        else:
            rows = baseline_rows(
                tag,
                self.cf_spec,
                bundle,
                scenario.train,
                sources,
                time_limit_s=o.time_limit_s,
                require_plausible=o.require_plausible,
                margin=o.margin,
                progress=count,
                proposer=given,
            )
        self.batches.append(
            {
                "query_id": key,
                "sources": len(sources),
                "rows": [r.model_dump(mode="json") for r in rows],
            }
        )
        return rows, len(sources)

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
            model = split_method(method)[0]
            backend = load_backend(
                model,
                base_url=o.base_url,
                api_key=o.api_key.get_secret_value() if o.api_key else None,
                batch_size=o.batch_size,
                concurrency=o.concurrency,
            )
            prompts = load_prompts(o.prompt or default_prompt(model), o.revise_prompt)
            self.proposers[method] = LLMProposer(backend, self.cf_spec, *prompts)
        return self.proposers[method]

    def unit_keys(self) -> Iterator[str]:
        """The units this call asks for (the journal may hold more from earlier calls)."""
        o = self.options
        for seed in range(o.seeds):
            for kind in o.classifier_kinds:
                yield f"full/seed={seed}/{kind}"
        for keep in o.keep:
            for seed in range(o.seeds):
                for kind in o.classifier_kinds:
                    prefix = f"{scenario_name(keep)}/seed={seed}/{kind}"
                    yield f"{prefix}/{ARM_SCARCE}"
                    for count in o.rows:
                        for arm in self.added_arms:
                            yield f"{prefix}/{arm}/rows={rows_token(count)}"

    def chunks(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(method, chunk record) of every journalled CF chunk this call's scenarios used."""
        wanted = {
            f"{scenario_name(keep)}/seed={seed}/{method}/": method
            for keep in self.options.keep
            for seed in range(self.options.seeds)
            for method in self.options.methods
        }
        for key, record in self.batches.records.items():
            prefix = key[: key.rindex("/") + 1]
            if prefix in wanted:
                yield wanted[prefix], record

    def requested_rows(self) -> list[GeneratedRow]:
        return [GeneratedRow.model_validate(r) for _, c in self.chunks() for r in c["rows"]]

    def targets(self) -> dict[str, int]:
        """Per method, source rows tried over every scenario and seed."""
        totals = dict.fromkeys(self.options.methods, 0)
        for method, record in self.chunks():
            totals[method] += int(record["sources"])
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
        "refinement; "
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
    study = _Study(options, spec, train, test, proposers, progress)
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
