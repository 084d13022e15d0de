"""`cf-agent finetune` as a service: examples -> LoRA -> before/after -> adapter dir with a card.

The adapter dir appears only complete: everything is written into a temporary sibling folder
that is renamed at the end (a failed or killed run leaves no half adapter behind).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from cf_agent import __version__
from cf_agent.agent.runner import Query, build_verifiers, plan_queries
from cf_agent.data.cohort import load_cohort
from cf_agent.data.spec import load_spec
from cf_agent.errors import DataError, OutputError
from cf_agent.fileio import write_text_atomic
from cf_agent.finetune.compare import Comparison, ComparisonSettings, compare_models
from cf_agent.finetune.examples import (
    Candidate,
    ExampleSet,
    PromptRenderer,
    audit_candidates,
    baseline_candidates,
    build_examples,
    parse_sources,
    person_split,
    probe_revise_examples,
    revise_examples,
    run_candidates,
)
from cf_agent.finetune.options import FinetuneOptions
from cf_agent.finetune.train import LoraSettings, TrainReport, train_lora
from cf_agent.models.adapter_files import stamp_card
from cf_agent.models.baselines.search import SearchProposer
from cf_agent.models.classifier import load_bundle, load_split
from cf_agent.models.llm.embedded import LocalModelError, embedded_model_dir
from cf_agent.models.llm.local import TransformersBackend
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.models.registry import UnknownModelError
from cf_agent.prompts.render import load_prompts
from cf_agent.tools.verifiers import Verifiers

CARD_FILE = "card.json"
EXAMPLES_FILE = "examples.jsonl"
COMPARE_JSON = "compare.json"
COMPARE_MD = "compare.md"
# Share of the people whose "best probe alone" change gets a revise example.
PROBE_REVISE_SHARE = 0.5

ProgressFn = Callable[[str, int, int, str], None]


class AdapterCard(BaseModel):
    """card.json: what the adapter is, what it learnt from, how, and what it changed."""

    cf_agent_version: str
    created_at: str
    command: str
    base_model: str
    base_model_path: str
    data_hash: str = Field(description="sha256 of the training examples, prompts included.")
    cohort_data_hash: str
    spec_hash: str
    classifier_files: dict[str, str] = Field(description="Classifier bundle file -> sha256.")
    prompts: dict[str, str] = Field(description="Template name -> sha256.")
    sources: list[str]
    candidates: int
    dropped: dict[str, int]
    targets_by_source: dict[str, int]
    examples: dict[str, int] = Field(description="train / val / revise example counts.")
    persons: dict[str, int] = Field(description="train / val person counts.")
    settings: LoraSettings
    training: TrainReport
    metrics: Comparison | None = Field(description="Before/after on held-out people.")


class FinetuneOutcome(BaseModel):
    out: Path
    card: AdapterCard


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
            extra = (
                {"margin": options.teacher_margin, "grid": options.teacher_grid}
                if source == "search"
                else {}
            )
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


def _readme(card: AdapterCard) -> str:
    t, top = card.training, card.settings.top_layers
    lines = [
        f"# LoRA adapter for {card.base_model}",
        "",
        "Written by `cf-agent finetune`; load it with "
        f"`--model hf:<base folder>@<this folder>` (base: `{card.base_model_path}`).",
        "",
        f"- command: `{card.command}`" if card.command else "- command: (API call)",
        f"- training data: {card.examples['train']} examples from {card.persons['train']} people "
        f"(+ {card.examples['val']} validation examples from {card.persons['val']} other "
        f"people), hash {card.data_hash}; sources {', '.join(card.sources)}",
        f"- targets by source: {card.targets_by_source}; dropped candidates: {card.dropped}",
        f"- cohort {card.cohort_data_hash}, spec {card.spec_hash}, classifier files "
        f"{', '.join(f'{k} {v[:12]}' for k, v in card.classifier_files.items())}",
        f"- LoRA r={card.settings.rank}, alpha={card.settings.alpha}, "
        f"modules {', '.join(card.settings.target_modules)}, "
        f"layers {'all' if top is None else f'last {top}'}"
        f"; lr {card.settings.learning_rate:g}, batch {card.settings.batch_size}, {t.steps} steps",
        f"- device {t.device} ({t.dtype}, quantization {t.quantization}, gradient checkpointing "
        f"{'on' if t.gradient_checkpointing else 'off'}): {t.seconds_per_step:.1f} s/step, "
        f"{t.tokens_per_second:.0f} tokens/s",
        f"- train loss {t.train_loss_first:.3f} -> {t.train_loss_last:.3f}; validation loss "
        f"{_loss(t.val_loss_before)} (base) -> {_loss(t.val_loss_after)} (adapted)",
        "",
    ]
    if card.metrics is not None:
        lines += ["## Before/after on held-out people", "", card.metrics.markdown()]
    return "\n".join(lines)


def _loss(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _publish(tmp: Path, out: Path, overwrite: bool) -> None:
    """Rename the finished folder into place; an old adapter is replaced only after that."""
    os.chmod(tmp, 0o755)  # mkdtemp makes 0700 and safetensors 0600; adapters are ordinary files
    for path in tmp.iterdir():
        os.chmod(path, 0o644)
    old = None
    if out.exists():
        if not overwrite:
            raise OutputError(f"{out} already exists", "pass --overwrite or choose --out")
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out, old)
    os.rename(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def finetune(options: FinetuneOptions, progress: ProgressFn | None = None) -> FinetuneOutcome:
    """Build examples, train LoRA, compare before/after, write the adapter dir atomically."""
    say: ProgressFn = progress or (lambda stage, done, total, info: None)
    if options.out.exists() and not options.overwrite:
        raise OutputError(f"{options.out} already exists", "pass --overwrite or choose --out")
    sources = parse_sources(options.sources)
    model_path, base_label = resolve_base(options.base)
    spec = load_spec(options.spec)
    cohort = load_cohort(options.data, spec)
    bundle = load_bundle(options.model_dir, spec)
    initial, revise = load_prompts(options.prompt, options.revise_prompt)
    queries = plan_queries(cohort, bundle, options.people)
    if not queries:
        raise DataError(
            f"the classifier predicts the desired class for everyone in {options.data}",
            "fine-tune on data with people outside the desired class",
        )
    verifiers = build_verifiers(spec, bundle, cohort, options.model_dir, margin=0.0)
    split = load_split(options.model_dir)
    train_ids = set(split.loc[split["split"] == "train", spec.id_column].astype(str))
    train_frame = cohort.frame[cohort.ids.astype(str).isin(train_ids)]
    context = {"spec": spec, "bundle": bundle, "train_frame": train_frame, "queries": queries}

    candidates = _candidates(options, sources, context, say)
    say("examples", 0, 1, f"{len(candidates)} candidate CFs")
    renderer = PromptRenderer(spec, bundle, initial, revise, hints=options.hints)
    teacher = SearchProposer(
        spec, bundle, margin=options.teacher_margin, grid=options.teacher_grid
    ).search_from
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
    revisers = [
        q
        for q in queries
        if person_split(q.query_id, options.val_share, options.seed) == "train"
        and person_split(q.query_id, options.revise_share, options.seed + 1) == "val"
    ]
    if revisers:
        say("revise examples", 0, 1, f"base model on {len(revisers)} people")
        proposer = LLMProposer(
            TransformersBackend(base_label, model_path, device=options.device),
            spec,
            initial,
            revise,
        )
        examples.examples += revise_examples(
            spec, proposer, renderer, verifiers, revisers, examples.examples, base_label, teacher
        )
        say("revise examples", 1, 1, "")
    examples.examples += probe_revise_examples(
        spec,
        renderer,
        verifiers,
        [
            q
            for q in queries
            if person_split(q.query_id, PROBE_REVISE_SHARE, options.seed + 2) == "val"
        ],
        examples.examples,
        teacher,
    )
    train, val = examples.of("train"), examples.of("val")
    measured = [
        q for q in queries if person_split(q.query_id, options.val_share, options.seed) == "val"
    ][: options.eval_people]
    if not train:
        raise DataError(
            f"all {len(examples.examples)} examples fell in the validation split",
            "use more people (--people) or a smaller --val-share",
        )
    say("examples", 1, 1, f"{len(train)} train, {len(val)} validation examples")

    options.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{options.out.name}.", suffix=".tmp", dir=options.out.parent)
    )
    try:
        _write_examples(examples, tmp / EXAMPLES_FILE)
        report = train_lora(
            model_path,
            train,
            val,
            options.lora,
            tmp,
            device=options.device,
            on_step=lambda step, total, loss: say("training", step, total, f"loss {loss:.3f}"),
            validity=_validity_fn(options, model_path, renderer, verifiers, measured, say),
        )
        comparison = None
        held_out = [
            q.query_id
            for q in queries
            if person_split(q.query_id, options.val_share, options.seed) == "val"
        ][: options.compare_n]
        if held_out:
            comparison = _compare(options, cohort, held_out, model_path, base_label, tmp, say)
            write_text_atomic(tmp / COMPARE_JSON, comparison.model_dump_json(indent=2) + "\n")
            write_text_atomic(tmp / COMPARE_MD, comparison.markdown())
        card = AdapterCard(
            cf_agent_version=__version__,
            created_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            command=options.command,
            base_model=base_label,
            base_model_path=Path(model_path).name,
            data_hash=examples.data_hash(),
            cohort_data_hash=cohort.data_hash,
            spec_hash=spec.spec_hash(),
            classifier_files=bundle.metadata.file_sha256,
            prompts={initial.name: initial.sha256, revise.name: revise.sha256},
            sources=sources,
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
        )
        write_text_atomic(tmp / CARD_FILE, card.model_dump_json(indent=2) + "\n")
        stamp_card(tmp)  # the weights' and config's hashes, checked when the adapter loads
        write_text_atomic(tmp / "README.md", _readme(card))
        _publish(tmp, options.out, options.overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return FinetuneOutcome(out=options.out, card=card)


def _validity_fn(
    options: FinetuneOptions,
    model_path: str,
    renderer: PromptRenderer,
    verifiers: Verifiers,
    people: list[Query],
    say: ProgressFn,
) -> Callable[[Path], float] | None:
    """Held-out first-proposal validity of an adapter: the share of `people` whose first
    proposal (first-round prompt, no refinement) passes every verifier."""
    if not people:
        return None
    requests = [renderer.request(q) for q in people]

    def measure(adapter: Path) -> float:
        backend = TransformersBackend(
            "adapted", model_path, adapter_path=adapter, device=options.device
        )
        proposer = LLMProposer(backend, renderer.spec, renderer.initial, renderer.revise)
        proposals = proposer.propose(requests)
        passed = sum(
            p.values is not None and Verifiers.all_passed(verifiers.check(q.row, p.values))
            for q, p in zip(people, proposals, strict=True)
        )
        say("validity", passed, len(people), "first proposals valid on held-out people")
        return passed / len(people)

    return measure


def _compare(
    options: FinetuneOptions,
    cohort: Any,
    people: list[str],
    model_path: str,
    base_label: str,
    adapter: Path,
    say: ProgressFn,
) -> Comparison:
    settings = ComparisonSettings(
        data=options.data,
        spec=options.spec,
        model_dir=options.model_dir,
        prompt=options.prompt,
        revise_prompt=options.revise_prompt,
        max_rounds=options.compare_rounds,
        hints=options.hints,
    )
    adapted_label = f"hf:{model_path}@{options.out}"
    before_backend = TransformersBackend(base_label, model_path, device=options.device)
    after_backend = TransformersBackend(
        adapted_label, model_path, adapter_path=adapter, device=options.device
    )
    before, after = compare_models(
        settings,
        cohort,
        people,
        [("before", before_backend), ("after", after_backend)],
        progress=lambda label, done, total: say(f"compare {label}", done, total, ""),
    )
    return Comparison(
        people=people,
        max_rounds=options.compare_rounds,
        before_model=base_label,
        after_model="adapted",
        before=before,
        after=after,
    )
