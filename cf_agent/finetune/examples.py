"""Training examples from verified CFs: the agent's prompt for a person -> a verified CF as JSON.

Candidates come from the sources a user picks: accepted CFs in `cf-agent run` output or an audit
log, and classic baselines run on the people the agent would be asked about. Every candidate is
rounded to what the constrained decoder can emit and checked by all three verifiers again (the
classifier may be newer than the run); one target per person is kept: preferably one that moves
only features the prompt's probes show (the `probes` source writes those), then the sparsest.
People, not rows, are split into train and validation by a hash of their id, so a person never
sits on both sides. Revise-round examples (revise.py) continue a rejected first proposal.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, Field

from cf_agent.agent.queries import Query
from cf_agent.audit.store import AuditStore, EventType
from cf_agent.data.cohort import Cohort
from cf_agent.data.spec import FeatureSpec, SumRule
from cf_agent.errors import CfAgentError, DataError
from cf_agent.finetune.answers import answer_text, emittable_cf
from cf_agent.models.baselines import BASELINE_METHODS, load_baseline
from cf_agent.models.baselines.probes import probe_prefixes
from cf_agent.models.classifier import ClassifierBundle
from cf_agent.models.llm.proposer import render_request
from cf_agent.prompts.render import PromptTemplate
from cf_agent.proposers import CFRequest, ChatMessage
from cf_agent.tools.metrics import changed_features, proximity_l2_range
from cf_agent.tools.sensitivity import PROBES_SHOWN, Probe, probe_moves
from cf_agent.tools.verifiers import Verifiers

Split = Literal["train", "val"]
SOURCE_FORMS = "baseline methods (" + ", ".join(BASELINE_METHODS) + "), run:<results.jsonl>, "
SOURCE_FORMS += "audit:<audit.db>"


class SourceError(CfAgentError):
    """A training-data source string or file is unusable."""

    exit_code = 4


class Candidate(BaseModel):
    """One CF for one person, before filtering, and where it came from."""

    person_id: str
    values: dict[str, Any]
    provenance: dict[str, str] = Field(description="source kind, method, file, run id...")


class TrainingExample(BaseModel):
    """One chat-format pair with its provenance; the prompt is rendered as the agent does."""

    person_id: str
    split: Split
    round: Literal["initial", "revise"] = Field(description="Which prompt the agent would use.")
    messages: list[ChatMessage] = Field(description="System + user messages (the prompt).")
    answer: str = Field(description="The compact JSON answer (the only tokens with loss).")
    previous: dict[str, Any] | None = Field(default=None, description="Revise: rejected CF.")
    provenance: dict[str, str]

    def record(self) -> dict[str, Any]:
        """What examples.jsonl keeps: everything but the long prompt, which has a hash."""
        prompt = json.dumps(self.messages, ensure_ascii=False).encode("utf-8")
        return {
            **self.model_dump(mode="json", exclude={"messages"}),
            "prompt_sha256": hashlib.sha256(prompt).hexdigest(),
        }


class ExampleSet(BaseModel):
    """Examples and the counts behind them (what was dropped and why)."""

    examples: list[TrainingExample]
    candidates: int = Field(description="CFs collected from all sources.")
    dropped: dict[str, int] = Field(description="Candidates left out, by reason.")
    by_source: dict[str, int] = Field(description="Kept targets by source method.")

    def of(self, split: Split) -> list[TrainingExample]:
        return [e for e in self.examples if e.split == split]

    def persons(self, split: Split) -> list[str]:
        return sorted({e.person_id for e in self.of(split)})

    def data_hash(self) -> str:
        """sha256 of the examples, prompts included: the card's name for the training data."""
        digest = hashlib.sha256()
        for example in self.examples:
            digest.update(example.model_dump_json().encode("utf-8"))
        return digest.hexdigest()[:16]


def person_split(person_id: str, val_share: float, seed: int = 0) -> Split:
    """'val' for a stable val_share of people (a hash of seed and id), else 'train'."""
    digest = hashlib.sha256(f"{seed}:{person_id}".encode()).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < val_share else "train"


def parse_sources(text: str) -> list[str]:
    """Comma-separated sources; each must be a baseline method, run:<file> or audit:<file>."""
    sources = [s.strip() for s in text.split(",") if s.strip()]
    if not sources:
        raise SourceError("no training-data source given", f"pass --sources with {SOURCE_FORMS}")
    for source in sources:
        kind, _, path = source.partition(":")
        if source in BASELINE_METHODS:
            continue
        if kind in ("run", "audit") and path:
            if not Path(path).is_file():
                raise SourceError(f"{kind} source {path} does not exist", "pass an existing file")
            continue
        raise SourceError(f"unknown training-data source {source!r}", f"use {SOURCE_FORMS}")
    return sources


def run_candidates(path: Path) -> list[Candidate]:
    """Accepted CFs in `cf-agent run` JSONL output."""
    candidates = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(
            f"cannot read run results {path}: {exc}", "pass the .jsonl written by `cf-agent run`"
        ) from exc
    for record in records:
        if not isinstance(record, dict) or "query_id" not in record:
            raise SourceError(
                f"{path} holds a line that is not a run result", "pass `cf-agent run` output"
            )
        for cf in record.get("counterfactuals", []):
            provenance = {"kind": "run", "method": str(cf.get("source", "")), "file": str(path)}
            candidates.append(
                Candidate(
                    person_id=str(record["query_id"]), values=cf["values"], provenance=provenance
                )
            )
    return candidates


def audit_candidates(path: Path) -> list[Candidate]:
    """Accepted CFs in an audit log, minus those a reviewer rejected."""
    with AuditStore(path) as store:
        rejected = {
            (e.run_id, e.query_id, json.dumps(e.payload.get("values"), sort_keys=True))
            for e in store.iter_events(type=EventType.REVIEW)
            if e.payload.get("action") == "reject"
        }
        candidates = []
        for event in store.iter_events(type=EventType.ACCEPTED):
            for cf in event.payload.get("accepted", []):
                key = (event.run_id, event.query_id, json.dumps(cf.get("values"), sort_keys=True))
                if cf.get("values") is None or event.query_id is None or key in rejected:
                    continue
                provenance = {
                    "kind": "audit",
                    "method": str(cf.get("source", "")),
                    "file": str(path),
                    "run_id": event.run_id,
                }
                candidates.append(
                    Candidate(person_id=event.query_id, values=cf["values"], provenance=provenance)
                )
    return candidates


def baseline_candidates(
    method: str,
    spec: FeatureSpec,
    bundle: ClassifierBundle,
    train_frame: pd.DataFrame,
    queries: Sequence[Query],
    time_limit_s: float,
    seed: int,
    progress: Callable[[str, int, int], None] | None = None,
    per_person: int = 1,
    **options: Any,
) -> list[Candidate]:
    """Up to `per_person` CFs per person from a classic baseline, run on the agent's own
    queries (several, when the verifiers may reject the best one and the next is useful)."""
    proposer = load_baseline(
        method, spec, bundle, train_frame, time_limit_s=time_limit_s, seed=seed, **options
    )
    candidates = []
    for done, query in enumerate(queries, start=1):
        request = CFRequest(
            query_id=query.query_id,
            row=query.row,
            current_class=query.current_class,
            desired_class=spec.desired_class,
        )
        for proposal in proposer.propose([request] * per_person):
            if proposal.values is not None:
                provenance = {"kind": "baseline", "method": method}
                provenance.update({k: str(v) for k, v in options.items()})
                candidates.append(
                    Candidate(
                        person_id=query.query_id, values=proposal.values, provenance=provenance
                    )
                )
        if progress is not None:
            progress(method, done, len(queries))
    return candidates


class PromptRenderer:
    """Renders a request exactly as the agent's first (or revise) round does."""

    def __init__(
        self,
        spec: FeatureSpec,
        bundle: ClassifierBundle,
        initial: PromptTemplate,
        revise: PromptTemplate,
        hints: bool = True,
    ) -> None:
        self.spec = spec
        self.bundle = bundle
        self.initial = initial
        self.revise = revise
        self.hints = hints

    def request(
        self,
        query: Query,
        previous: Mapping[str, Any] | None = None,
        feedback: str = "",
    ) -> CFRequest:
        """The CFRequest propose_counterfactuals builds with k = 1: round one, or a revise round
        after `previous` was rejected (its probes then go from `previous`)."""
        probes = (
            probe_moves(self.bundle, self.spec, query.row, top=PROBES_SHOWN, start=previous)
            if self.hints
            else None
        )
        return CFRequest(
            query_id=query.query_id,
            row=query.row,
            current_class=query.current_class,
            desired_class=self.spec.desired_class,
            previous=dict(previous) if previous is not None else None,
            feedback=feedback,
            probes=probes,
        )

    def render(self, request: CFRequest) -> list[ChatMessage]:
        """Exactly the agent's prompt (LLMProposer.render)."""
        return render_request(self.spec, self.initial, self.revise, request)[1]


def _best_target(
    spec: FeatureSpec,
    row: Mapping[str, Any],
    kept: Sequence[tuple[dict[str, Any], Candidate]],
    probes: Sequence[Probe],
) -> tuple[dict[str, Any], Candidate]:
    """The verified CF the prompt can teach best: first one that moves only features the
    prompt shows (a model reading it could have written it), and of those the shortest prefix
    of the shown probes, each whole (one rule for every person: "apply the first k probes");
    then the sparsest, then the closest (the change a person can most easily make)."""
    shown = {m.feature for m in probes}
    derived = {r.total for r in spec.rules if isinstance(r, SumRule)}
    prefixes = [emittable_cf(spec, row, p) for p in probe_prefixes(spec, row, probes)]

    def unshown(values: dict[str, Any]) -> set[str]:
        return set(changed_features(spec, row, values)) - shown - derived

    return min(
        kept,
        key=lambda item: (
            bool(unshown(item[0])),
            prefixes.index(item[0]) if item[0] in prefixes else len(prefixes),
            len(changed_features(spec, row, item[0])),
            proximity_l2_range(spec, row, item[0]),
        ),
    )


def build_examples(
    spec: FeatureSpec,
    cohort: Cohort,
    queries: Sequence[Query],
    candidates: Sequence[Candidate],
    verifiers: Verifiers,
    renderer: PromptRenderer,
    val_share: float = 0.2,
    seed: int = 0,
) -> ExampleSet:
    """Filter candidates (emittable, all verifiers pass), one target per person, split by person.

    People must be among `queries` (predicted outside the desired class now); their rows come
    from the cohort, so a run file edited by hand cannot smuggle in other values.
    """
    by_id = {q.query_id: q for q in queries}
    known_ids = set(cohort.ids.astype(str))
    dropped: Counter[str] = Counter()
    kept: dict[str, list[tuple[dict[str, Any], Candidate]]] = {}
    for candidate in candidates:
        query = by_id.get(candidate.person_id)
        if query is None:
            reason = "not in data" if candidate.person_id not in known_ids else "not a query now"
            dropped[reason] += 1
            continue
        if set(spec.feature_names) - set(candidate.values):
            dropped["missing features"] += 1
            continue
        values = emittable_cf(spec, query.row, candidate.values)
        if not changed_features(spec, query.row, values):
            dropped["no change"] += 1
            continue
        if not Verifiers.all_passed(verifiers.check(query.row, values)):
            dropped["failed verification"] += 1
            continue
        kept.setdefault(candidate.person_id, []).append((values, candidate))
    examples: list[TrainingExample] = []
    by_source: Counter[str] = Counter()
    for query in queries:  # query order: deterministic whatever the source order
        if query.query_id not in kept:
            continue
        request = renderer.request(query)
        probes = request.probes.moves if request.probes else []
        target, candidate = _best_target(spec, query.row, kept[query.query_id], probes)
        by_source[candidate.provenance["method"]] += 1
        split = person_split(query.query_id, val_share, seed)
        answer = answer_text(spec, query.row, target)
        common = {"person_id": query.query_id, "split": split, "answer": answer}
        examples.append(
            TrainingExample(
                round="initial",
                messages=renderer.render(request),
                provenance=candidate.provenance,
                **common,
            )
        )
    if not examples:
        raise DataError(
            f"none of {len(candidates)} candidate CFs passed all verifiers "
            f"(dropped: {dict(dropped) or 'none'})",
            "add sources (e.g. dice-random,cfnow-greedy) or more people (--people)",
        )
    return ExampleSet(
        examples=examples,
        candidates=len(candidates),
        dropped=dict(dropped),
        by_source=dict(by_source),
    )
