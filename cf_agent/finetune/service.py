"""`cf-agent finetune` as a service: examples -> LoRA -> before/after -> adapter dir with a card.

The adapter dir appears only complete: everything is written into a work folder beside it
(`.<out>.resume/`, see checkpoint.py) whose `adapter/` is renamed into place at the end. A killed
run leaves no half adapter behind, and rerunning its command resumes it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from cf_agent.agent.queries import Query, plan_queries, require_queries
from cf_agent.agent.runner import build_verifiers
from cf_agent.data.cohort import Cohort, load_cohort
from cf_agent.data.spec import FeatureSpec, load_spec
from cf_agent.errors import DataError, OutputError
from cf_agent.fileio import write_text_atomic
from cf_agent.finetune.card import AdapterCard, publish, readme
from cf_agent.finetune.checkpoint import (
    BUILT_FILE,
    CANDIDATES_FILE,
    PROBE_REVISE_FILE,
    REVISE_FILE,
    TRAINED_FILE,
    ResumeDir,
)
from cf_agent.finetune.compare import ComparisonSettings, compare_adapter
from cf_agent.finetune.examples import (
    Candidate,
    ExampleSet,
    PromptRenderer,
    TrainingExample,
    audit_candidates,
    baseline_candidates,
    build_examples,
    parse_sources,
    person_split,
    run_candidates,
)
from cf_agent.finetune.options import FinetuneOptions
from cf_agent.finetune.revise import (
    Teacher,
    prefix_teacher,
    probe_revise_examples,
    revise_examples,
)
from cf_agent.finetune.train import TrainReport, train_lora
from cf_agent.finetune.validity import validity_fn
from cf_agent.fingerprint import options_fingerprint
from cf_agent.locks import exclusive
from cf_agent.models.adapter_files import stamp_card
from cf_agent.models.baselines.probes import ProbesProposer
from cf_agent.models.baselines.search import SearchProposer
from cf_agent.models.classifier import ClassifierBundle, load_bundle, load_split
from cf_agent.models.llm.embedded import LocalModelError, embedded_model_dir
from cf_agent.models.llm.local import TransformersBackend
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.models.registry import UnknownModelError, load_backend
from cf_agent.prompts.render import PromptTemplate, load_prompts
from cf_agent.tools.verifiers import Verifiers
from cf_agent.version import __version__

CARD_FILE = "card.json"
EXAMPLES_FILE = "examples.jsonl"
COMPARE_JSON = "compare.json"
COMPARE_MD = "compare.md"
# Probe combinations kept per person as candidate targets (the verifiers then pick).
PROBE_TARGETS = 6
# Share of the people whose "best probe alone" change gets a revise example.
PROBE_REVISE_SHARE = 0.5
ADAPTER_WEIGHTS = "adapter_model.safetensors"
CANDIDATES = TypeAdapter(list[Candidate])
EXAMPLE_SET = TypeAdapter(ExampleSet)
EXAMPLES = TypeAdapter(list[TrainingExample])
REPORT = TypeAdapter(TrainReport)

ProgressFn = Callable[[str, int, int, str], None]


class FinetuneOutcome(BaseModel):
    out: Path
    card: AdapterCard
    already_done: bool = False  # out held the adapter of this very command: nothing was run


def resolve_base(base: str) -> tuple[str, str]:
    """(model path for transformers, label of the base model) for embedded or hf:<id|path>."""
    if base in ("embedded", "embedded-base"):
        return str(embedded_model_dir()), "embedded-base"
    if base.startswith("hf:") and base.removeprefix("hf:") and "@" not in base:
        target = base.removeprefix("hf:")
        path = Path(target).expanduser()
        if path.is_absolute() or target.startswith((".", "~")):
            if not path.is_dir():
                raise LocalModelError(f"model folder not found: {path}", "pass a model folder")
            return str(path), base
        return target, base
    raise UnknownModelError(
        f"cannot fine-tune {base!r}", "use --base embedded or hf:<model id or path> (no @adapter)"
    )


def _candidates(
    options: FinetuneOptions, sources: list[str], context: dict[str, Any], progress: ProgressFn
) -> list[Candidate]:
    found: list[Candidate] = []
    for source in sources:
        kind, _, path = source.partition(":")
        if kind == "run":
            found += run_candidates(Path(path))
        elif kind == "audit":
            found += audit_candidates(Path(path))
        else:
            extra: dict[str, Any] = {}
            if source == "search":
                extra = {"margin": options.teacher_margin, "grid": options.teacher_grid}
            elif source == "probes":  # several: the closest combination may be implausible
                extra = {"margin": options.teacher_margin, "per_person": PROBE_TARGETS}
            found += baseline_candidates(
                source,
                context["spec"],
                context["bundle"],
                context["train_frame"],
                context["queries"],
                options.time_limit_s,
                options.seed,
                progress=lambda m, d, t: progress(f"baseline {m}", d, t, ""),
                **extra,
            )
    return found


def _write_examples(examples: ExampleSet, path: Path) -> None:
    lines = [json.dumps(e.record(), ensure_ascii=False) for e in examples.examples]
    write_text_atomic(path, "\n".join(lines) + "\n")


def finetune(options: FinetuneOptions, progress: ProgressFn | None = None) -> FinetuneOutcome:
    """Build examples, train LoRA, compare before/after, write the adapter dir atomically.

    One process per adapter dir (locks.py). Finished phases and training checkpoints are kept
    in `.<out>.resume/` (checkpoint.py): after a kill, the same command carries on from there
    to the adapter an uninterrupted run writes. An error removes that folder.
    """
    with exclusive([options.out], "cf-agent finetune"):
        return _finetune(options, progress or (lambda stage, done, total, info: None))


@dataclass
class _Inputs:
    sources: list[str]
    model_path: str
    base_label: str
    spec: FeatureSpec
    cohort: Cohort
    bundle: ClassifierBundle
    initial: PromptTemplate
    revise: PromptTemplate
    queries: list[Query]

    def fingerprint(self, options: FinetuneOptions) -> str:
        # Paths may move and checkpoints come as often as one likes; what shapes results may not.
        keyed = options.model_dump(
            mode="json",
            exclude={
                "data",
                "spec",
                "model_dir",
                "out",
                "overwrite",
                "command",
                "checkpoint_every",
            },
        )
        return options_fingerprint(
            keyed,
            self.cohort,
            [options.prompt, options.revise_prompt],
            classifier=self.bundle.metadata.file_sha256,
            model_path=self.model_path,
        )

    def held_out(self, options: FinetuneOptions) -> list[Query]:
        return [
            q
            for q in self.queries
            if person_split(q.query_id, options.val_share, options.seed) == "val"
        ]


def _already_exists(out: Path) -> OutputError:
    return OutputError(f"{out} already exists", "pass --overwrite or choose --out")


def _finished_card(out: Path, fingerprint: str) -> AdapterCard | None:
    """The card of an adapter in `out` made by this very command, else None."""
    try:
        card = AdapterCard.model_validate_json((out / CARD_FILE).read_bytes())
    except (OSError, ValidationError):
        return None
    return card if card.fingerprint == fingerprint else None


def _finetune(options: FinetuneOptions, say: ProgressFn) -> FinetuneOutcome:
    resume = ResumeDir(options.out)
    fresh = not options.overwrite and not resume.path.exists()
    if fresh and options.out.exists() and not (options.out / CARD_FILE).exists():
        raise _already_exists(options.out)
    sources = parse_sources(options.sources)
    model_path, base_label = resolve_base(options.base)
    spec = load_spec(options.spec)
    cohort = load_cohort(options.data, spec)
    bundle = load_bundle(options.model_dir, spec)
    initial, revise = load_prompts(options.prompt, options.revise_prompt)
    queries = require_queries(cohort, bundle, options.people, options.data, "fine-tune")
    inputs = _Inputs(
        sources, model_path, base_label, spec, cohort, bundle, initial, revise, queries
    )
    fingerprint = inputs.fingerprint(options)
    if fresh and options.out.exists():  # done already (perhaps killed while it tidied up)?
        done = _finished_card(options.out, fingerprint)
        if done is None:
            raise _already_exists(options.out)
        return FinetuneOutcome(out=options.out, card=done, already_done=True)
    resume.open(fingerprint, options.overwrite)
    if resume.published():  # killed once its adapter was in place: only the tidying was left
        resume.discard()
        card = AdapterCard.model_validate_json((options.out / CARD_FILE).read_bytes())
        return FinetuneOutcome(out=options.out, card=card)
    if options.out.exists() and not options.overwrite:
        raise _already_exists(options.out)
    try:
        card = _train_and_publish(options, inputs, resume, say, fingerprint)
    except Exception:
        resume.discard()
        raise
    resume.discard()
    return FinetuneOutcome(out=options.out, card=card)


def _examples(
    options: FinetuneOptions,
    inputs: _Inputs,
    resume: ResumeDir,
    renderer: PromptRenderer,
    verifiers: Verifiers,
    say: ProgressFn,
) -> ExampleSet:
    """Candidates, the examples built from them and the revise examples: each phase once."""
    spec, cohort, bundle = inputs.spec, inputs.cohort, inputs.bundle
    teacher: Teacher = SearchProposer(
        spec, bundle, margin=options.teacher_margin, grid=options.teacher_grid
    ).search_from
    if "probes" in inputs.sources:  # revise targets continue the first round's prefix rule
        prober = ProbesProposer(spec, bundle, margin=options.teacher_margin)
        teacher = prefix_teacher(prober, verifiers, teacher)
    candidates = resume.load(CANDIDATES_FILE, CANDIDATES)
    if candidates is None:
        split = load_split(options.model_dir)
        train_ids = set(split.loc[split["split"] == "train", spec.id_column].astype(str))
        train_frame = cohort.frame[cohort.ids.astype(str).isin(train_ids)]
        context = {
            "spec": spec,
            "bundle": bundle,
            "train_frame": train_frame,
            "queries": inputs.queries,
        }
        candidates = _candidates(options, inputs.sources, context, say)
        resume.save(CANDIDATES_FILE, CANDIDATES, candidates)
    say("examples", 0, 1, f"{len(candidates)} candidate CFs")
    examples = resume.load(BUILT_FILE, EXAMPLE_SET)
    if examples is None:
        examples = build_examples(
            spec,
            cohort,
            plan_queries(cohort, bundle, None),
            candidates,
            verifiers,
            renderer,
            val_share=options.val_share,
            seed=options.seed,
        )
        resume.save(BUILT_FILE, EXAMPLE_SET, examples)
    revisers = [
        q
        for q in inputs.queries
        if person_split(q.query_id, options.val_share, options.seed) == "train"
        and person_split(q.query_id, options.revise_share, options.seed + 1) == "val"
    ]
    revised = resume.load(REVISE_FILE, EXAMPLES) if revisers else []
    if revised is None:
        reviser = options.revise_from or inputs.base_label
        say("revise examples", 0, 1, f"{reviser} on {len(revisers)} people")
        backend = (
            load_backend(options.revise_from)
            if options.revise_from
            else TransformersBackend(inputs.base_label, inputs.model_path, device=options.device)
        )
        proposer = LLMProposer(backend, spec, inputs.initial, inputs.revise)
        revised = revise_examples(
            spec,
            proposer,
            renderer,
            verifiers,
            revisers,
            examples.examples,
            reviser,
            teacher,
        )
        resume.save(REVISE_FILE, EXAMPLES, revised)
        say("revise examples", 1, 1, "")
    examples.examples += revised
    probed = resume.load(PROBE_REVISE_FILE, EXAMPLES)
    if probed is None:
        probers = [
            q
            for q in inputs.queries
            if person_split(q.query_id, PROBE_REVISE_SHARE, options.seed + 2) == "val"
        ]
        probed = probe_revise_examples(
            spec, renderer, verifiers, probers, examples.examples, teacher
        )
        resume.save(PROBE_REVISE_FILE, EXAMPLES, probed)
    examples.examples += probed
    return examples


def _train_and_publish(
    options: FinetuneOptions,
    inputs: _Inputs,
    resume: ResumeDir,
    say: ProgressFn,
    fingerprint: str,
) -> AdapterCard:
    spec, cohort, bundle = inputs.spec, inputs.cohort, inputs.bundle
    verifiers = build_verifiers(spec, bundle, cohort, options.model_dir, margin=0.0)
    renderer = PromptRenderer(spec, bundle, inputs.initial, inputs.revise, hints=options.hints)
    examples = _examples(options, inputs, resume, renderer, verifiers, say)
    train, val = examples.of("train"), examples.of("val")
    if not train:
        raise DataError(
            f"all {len(examples.examples)} examples fell in the validation split",
            "use more people (--people) or a smaller --val-share",
        )
    say("examples", 1, 1, f"{len(train)} train, {len(val)} validation examples")

    tmp = resume.staging  # becomes options.out by one rename
    report = resume.load(TRAINED_FILE, REPORT)
    if report is None or not (tmp / ADAPTER_WEIGHTS).exists():
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        _write_examples(examples, tmp / EXAMPLES_FILE)
        measured = inputs.held_out(options)[: options.eval_people]
        report = train_lora(
            inputs.model_path,
            train,
            val,
            options.lora,
            tmp,
            device=options.device,
            on_step=lambda step, total, loss: say("training", step, total, f"loss {loss:.3f}"),
            validity=validity_fn(
                inputs.model_path, options.device, renderer, verifiers, measured, say
            ),
            checkpoint=resume.checkpoint(options.checkpoint_every),
        )
        resume.save(TRAINED_FILE, REPORT, report)
    comparison = None
    held_out = [q.query_id for q in inputs.held_out(options)][: options.compare_n]
    if held_out:
        settings = ComparisonSettings(
            data=options.data,
            spec=options.spec,
            model_dir=options.model_dir,
            prompt=options.prompt,
            revise_prompt=options.revise_prompt,
            max_rounds=options.compare_rounds,
            hints=options.hints,
        )
        comparison = compare_adapter(
            settings,
            cohort,
            held_out,
            (inputs.base_label, inputs.model_path),
            (f"hf:{inputs.model_path}@{options.out}", tmp),
            device=options.device,
            progress=lambda label, done, total: say(f"compare {label}", done, total, ""),
        )
        write_text_atomic(tmp / COMPARE_JSON, comparison.model_dump_json(indent=2) + "\n")
        write_text_atomic(tmp / COMPARE_MD, comparison.markdown())
    card = AdapterCard(
        cf_agent_version=__version__,
        created_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=options.command,
        base_model=inputs.base_label,
        base_model_path=Path(inputs.model_path).name,
        data_hash=examples.data_hash(),
        cohort_data_hash=cohort.data_hash,
        spec_hash=spec.spec_hash(),
        classifier_files=bundle.metadata.file_sha256,
        prompts={p.name: p.sha256 for p in (inputs.initial, inputs.revise)},
        sources=inputs.sources,
        candidates=examples.candidates,
        dropped=examples.dropped,
        targets_by_source=examples.by_source,
        examples={
            "train": len(train),
            "val": len(val),
            "revise": sum(e.round == "revise" for e in examples.examples),
        },
        persons={"train": len(examples.persons("train")), "val": len(examples.persons("val"))},
        settings=options.lora,
        training=report,
        metrics=comparison,
        fingerprint=fingerprint,
    )
    write_text_atomic(tmp / CARD_FILE, card.model_dump_json(indent=2) + "\n")
    stamp_card(tmp)  # the weights' and config's hashes, checked when the adapter loads
    write_text_atomic(tmp / "README.md", readme(card))
    publish(tmp, options.out, options.overwrite)
    return card
