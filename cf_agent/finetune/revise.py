"""Revise examples: teach the model to continue its own rejected change, as the agent revises.

A revise prompt shows the rejected change, the verifiers' real feedback and the classifier's
probes from that change; its answer is the teacher continued from there with only the features
the prompt shows (or the person's own target when that fails a verifier). The teacher is the
search, or, when first-round targets follow the prefix rule, that same rule from the rejected
change (`prefix_teacher`), so both rounds teach one habit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cf_agent.agent.queries import Query
from cf_agent.data.spec import FeatureSpec
from cf_agent.finetune.answers import answer_text, emittable_cf
from cf_agent.finetune.examples import PromptRenderer, TrainingExample
from cf_agent.models.baselines.probes import ProbesProposer
from cf_agent.proposers import Proposer
from cf_agent.tools.metrics import changed_features
from cf_agent.tools.projection import project
from cf_agent.tools.sensitivity import probe_moves
from cf_agent.tools.verdict import Verdict
from cf_agent.tools.verifiers import Verifiers

# (person's row, rejected change, features it must not move) -> the continued CF, or None.
Teacher = Callable[[Mapping[str, Any], Mapping[str, Any], set[str]], dict[str, Any] | None]


def prefix_teacher(prober: ProbesProposer, verifiers: Verifiers, fallback: Teacher) -> Teacher:
    """ "Apply the first k probes shown", continued from the rejected change: the shortest such
    prefix that passes every verifier, else `fallback` (the search from that change)."""

    def teach(
        row: Mapping[str, Any], previous: Mapping[str, Any], exclude: set[str]
    ) -> dict[str, Any] | None:
        for values in prober.prefixes_from(row, previous):
            cf = emittable_cf(prober.spec, row, values)
            moved = set(changed_features(prober.spec, row, cf))
            if not moved & exclude and Verifiers.all_passed(verifiers.check(row, cf)):
                return cf
        return fallback(row, previous, exclude)

    return teach


def revise_example(
    spec: FeatureSpec,
    renderer: PromptRenderer,
    verifiers: Verifiers,
    query: Query,
    first: TrainingExample,
    previous: Mapping[str, Any] | None,
    feedback: str,
    teacher: Teacher,
    previous_label: str,
) -> TrainingExample:
    """A revise prompt after `previous` was rejected, answered by the teacher continued from
    `previous` with only the features the prompt shows (its changes and its probes) when that
    passes every verifier, else by the person's own target."""
    request = renderer.request(query, previous=previous, feedback=feedback)
    answer, how = first.answer, "person's target"
    if previous is not None:
        shown = set(changed_features(spec, query.row, previous))
        shown |= {m.feature for m in request.probes.moves} if request.probes else set()
        found = teacher(query.row, previous, set(spec.feature_names) - shown)
        values = emittable_cf(spec, query.row, found) if found is not None else None
        if (
            values is not None
            and changed_features(spec, query.row, values)
            and Verifiers.all_passed(verifiers.check(query.row, values))
        ):
            answer, how = answer_text(spec, query.row, values), "teacher from previous"
    return TrainingExample(
        person_id=query.query_id,
        split=first.split,
        round="revise",
        messages=renderer.render(request),
        answer=answer,
        previous=dict(previous) if previous is not None else None,
        provenance={**first.provenance, "previous": previous_label, "answer": how},
    )


def revise_examples(
    spec: FeatureSpec,
    proposer: Proposer,
    renderer: PromptRenderer,
    verifiers: Verifiers,
    queries: Sequence[Query],
    examples: Sequence[TrainingExample],
    model_label: str,
    teacher: Teacher,
) -> list[TrainingExample]:
    """On-policy revise examples: the model's own rejected first proposals, the verifiers' real
    feedback, and the teacher's answer from there (one per person, same split)."""
    firsts = {e.person_id: e for e in examples if e.round == "initial"}
    wanted = [q for q in queries if q.query_id in firsts]
    requests = [renderer.request(q) for q in wanted]
    out: list[TrainingExample] = []
    for query, proposal in zip(wanted, proposer.propose(requests), strict=True):
        verdicts = verifiers.check(query.row, proposal.values) if proposal.values else []
        if proposal.values is not None and Verifiers.all_passed(verdicts):
            continue  # nothing to revise
        feedback = "\n".join(
            line
            for line in [f"- {proposal.error}" if proposal.error else "", feedback_text(verdicts)]
            if line
        )
        out.append(
            revise_example(
                spec,
                renderer,
                verifiers,
                query,
                firsts[query.query_id],
                proposal.values,
                feedback,
                teacher,
                f"{model_label} first proposal",
            )
        )
    return out


def probe_revise_examples(
    spec: FeatureSpec,
    renderer: PromptRenderer,
    verifiers: Verifiers,
    queries: Sequence[Query],
    examples: Sequence[TrainingExample],
    teacher: Teacher,
) -> list[TrainingExample]:
    """Revise examples after the first move a tuned model tends to propose: the best probe
    alone, all the way. Where that is rejected, its real feedback and the teacher's answer from
    there teach the model to continue its own change with the probes shown from it."""
    firsts = {e.person_id: e for e in examples if e.round == "initial"}
    out: list[TrainingExample] = []
    for query in queries:
        first = firsts.get(query.query_id)
        probes = probe_moves(renderer.bundle, spec, query.row, top=1)
        if first is None or not probes.moves:
            continue
        move = probes.moves[0]
        moved = project(spec, query.row, {**query.row, move.feature: move.to})
        previous = emittable_cf(spec, query.row, moved)
        verdicts = verifiers.check(query.row, previous)
        if Verifiers.all_passed(verdicts):
            continue
        out.append(
            revise_example(
                spec,
                renderer,
                verifiers,
                query,
                first,
                previous,
                feedback_text(verdicts),
                teacher,
                "best probe alone",
            )
        )
    return out


def feedback_text(verdicts: Sequence[Verdict]) -> str:
    """The verifiers' reasons as the agent sends them in a revise prompt."""
    return "\n".join(v.feedback() for v in verdicts if not v.passed and v.reasons)
