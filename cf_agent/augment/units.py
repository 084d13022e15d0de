"""One augmentation study's units: scenarios and seeds, arms per classifier kind and row
count, CF chunks; each journalled when done so a killed study resumes."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any, cast

import pandas as pd

from cf_agent.agent.journal import ResultJournal
from cf_agent.augment.arms import (
    ARM_FULL,
    ARM_SCARCE,
    Resampler,
    cf_arm,
    class_gap,
    fit_classifier,
    pulled_toward_minority,
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
from cf_agent.augment.options import BALANCE, AugmentOptions, ProgressFn, rows_token
from cf_agent.augment.scenarios import (
    Scenario,
    minority_class,
    scarce_training,
    scenario_name,
)
from cf_agent.augment.sources import order_sources
from cf_agent.augment.teacher import FastPipeline
from cf_agent.data.cohort import frame_from_rows
from cf_agent.data.spec import FeatureSpec
from cf_agent.models.classifier import ClassifierBundle
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.models.registry import default_prompt, is_model_string, load_backend, split_method
from cf_agent.prompts.render import load_prompts
from cf_agent.proposers import Proposer
from cf_agent.study_dir import (
    JOURNAL_DIR,
    RUNS_DIR,
)

CHUNK = 25  # source rows per journalled CF chunk


def chunk_size(missing: int, used: int, tried: int) -> int:
    """Sources for the next chunk: the rows still missing at the method's yield so far (one
    row per source before any was tried), at most CHUNK. A low-yield method (an LLM alone at
    10 % kept passes for about 1 source in 7) then asks for enough sources at once instead of
    crawling through chunks of the few rows still missing, each paying its start-up cost."""
    if tried == 0:
        return min(CHUNK, missing)
    if used == 0:
        return CHUNK
    return min(CHUNK, max(missing, math.ceil(missing * tried / used)))


class Study:
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
        self.cf_arms = {cf_arm(m, p): (m, p) for m in options.methods for p in options.pull}
        self.added_arms = [*self.cf_arms, *options.resamplers]
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
        sought = self._sought(scenario)
        cf_rows: dict[str, pd.DataFrame] = {}
        pulled: dict[str, pd.DataFrame] = {}

        def build(arm: str, n: int, label: str) -> tuple[pd.DataFrame, int]:
            if arm in self.cf_arms:
                method, pull = self.cf_arms[arm]
                if method not in cf_rows:
                    cf_rows[method] = self._cf_rows(scenario, method, max(sought.values()), label)
                if arm not in pulled:
                    pulled[arm] = pulled_toward_minority(
                        self.spec, scenario.train, cf_rows[method], self.minority, pull, seed
                    )
                used = pulled[arm].iloc[:n]
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

    def _sought(self, scenario: Scenario) -> dict[str, int]:
        """Rows each count of --rows adds in this scenario: the count, cut to the class gap."""
        gap = class_gap(scenario.train, self.spec.label, self.minority)
        return {rows_token(r): gap if r == BALANCE else min(int(r), gap) for r in self.options.rows}

    def _cf_rows(self, scenario: Scenario, method: str, needed: int, label: str) -> pd.DataFrame:
        """The first `needed` verified CF rows of the method (fewer if the sources run out),
        generated chunk by chunk along the source order (`chunk_size` sources each), each
        chunk journalled."""
        bundle = self._teacher(scenario)
        sources = order_sources(
            self.cf_spec, scenario.train, bundle, self.options.sources, scenario.seed
        )
        used: list[dict[str, Any]] = []
        start = 0
        while start < len(sources) and len(used) < needed:
            size = chunk_size(needed - len(used), len(used), start)
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
        """(method, chunk record) of the journalled CF chunks this call's rows used: per scenario,
        seed and method, the chunks along the source order until the largest count of --rows
        had its CFs (as `_cf_rows` walks them), not those an earlier call with larger --rows
        added after them."""
        records = self.batches.records
        for keep in self.options.keep:
            for seed in range(self.options.seeds):
                scenario = scarce_training(self.train, self.spec.label, self.minority, keep, seed)
                needed = max(self._sought(scenario).values())
                for method in self.options.methods:
                    used, start = 0, 0
                    key = f"{scenario.name}/seed={seed}/{method}/from={start}"
                    while used < needed and key in records:
                        record = records[key]
                        yield method, record
                        used += sum(1 for row in record["rows"] if row["used"])
                        start += int(record["sources"])
                        key = f"{scenario.name}/seed={seed}/{method}/from={start}"

    def requested_rows(self) -> list[GeneratedRow]:
        return [GeneratedRow.model_validate(r) for _, c in self.chunks() for r in c["rows"]]

    def targets(self) -> dict[str, int]:
        """Per method, source rows tried over every scenario and seed."""
        totals = dict.fromkeys(self.options.methods, 0)
        for method, record in self.chunks():
            totals[method] += int(record["sources"])
        return totals
