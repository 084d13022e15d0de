"""Training data: filtering by the verifiers, one target per person, split by person, sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scripted import ScriptedBackend
from world import World

from cf_agent.agent.queries import Query, plan_queries
from cf_agent.audit.store import AuditStore, EventType
from cf_agent.finetune.examples import (
    Candidate,
    ExampleSet,
    PromptRenderer,
    SourceError,
    audit_candidates,
    build_examples,
    parse_sources,
    person_split,
    run_candidates,
)
from cf_agent.finetune.revise import probe_revise_examples, revise_examples
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.prompts.render import load_prompt, load_prompts
from cf_agent.tools.classifier_check import ClassifierCheck
from cf_agent.tools.verifiers import Verifiers


def renderer(world: World, prompt: str = "zero_shot") -> PromptRenderer:
    initial, revise = load_prompts(prompt)
    return PromptRenderer(world.spec, world.bundle, initial, revise, hints=True)


def walkers(world: World, n: int, most: int = 7000) -> list[Query]:
    """Queries whose steps lie 1,000-2,500 under the threshold: +3,000 steps flips them."""
    queries = plan_queries(world.cohort, world.bundle, None)
    return [q for q in queries if 5500 <= q.row["steps"] <= most][:n]


def more_steps(query: Query, extra: float) -> dict[str, Any]:
    return {**query.row, "steps": query.row["steps"] + extra}


def candidate(query: Query, values: dict[str, Any], method: str) -> Candidate:
    return Candidate(
        person_id=query.query_id, values=values, provenance={"kind": "test", "method": method}
    )


def examples_for(
    world: World,
    candidates: list[Candidate],
    prompt: str = "zero_shot",
    val_share: float = 0.0,
    seed: int = 0,
) -> ExampleSet:
    """build_examples over every query of the world, prompts rendered as the agent does."""
    queries = plan_queries(world.cohort, world.bundle, None)
    return build_examples(
        world.spec,
        world.cohort,
        queries,
        candidates,
        world.verifiers,
        renderer(world, prompt),
        val_share=val_share,
        seed=seed,
    )


def test_only_verified_emittable_cfs_become_targets_one_per_person(world: World) -> None:
    people = walkers(world, 3)
    first, second, third = people
    candidates = [
        candidate(first, more_steps(first, 3000.4), "sparse"),  # rounds to an int: kept
        candidate(first, {**more_steps(first, 3000), "bmi": first.row["bmi"] - 1}, "denser"),
        candidate(second, more_steps(second, 100), "too small"),  # classifier says no
        candidate(second, {**more_steps(second, 3000), "age": 20}, "immutable"),
        candidate(third, dict(third.row), "no change"),
        Candidate(person_id="nobody", values=first.row, provenance={"kind": "t", "method": "x"}),
    ]

    result = examples_for(world, candidates)

    assert [e.person_id for e in result.examples] == [first.query_id]
    [example] = result.examples
    assert example.provenance == {"kind": "test", "method": "sparse"}  # the sparser target
    answer = json.loads(example.answer)
    assert list(answer) == ["steps", "rationale"]
    assert answer["steps"] == first.row["steps"] + 3000 and isinstance(answer["steps"], int)
    assert result.dropped == {
        "failed verification": 2,
        "no change": 1,
        "not in data": 1,
    }
    assert result.by_source == {"sparse": 1}
    assert result.candidates == 6


def test_split_is_by_person_and_every_person_lands_on_one_side(world: World) -> None:
    people = walkers(world, 40)
    candidates = [candidate(q, more_steps(q, extra), "m") for q in people for extra in (2900, 3000)]

    result = examples_for(world, candidates, val_share=0.3, seed=5)

    train, val = set(result.persons("train")), set(result.persons("val"))
    assert train and val and not train & val
    for example in result.examples:
        assert example.split == person_split(example.person_id, 0.3, seed=5)
    # one initial example per person, whatever the number of candidate CFs
    initial = [e.person_id for e in result.examples if e.round == "initial"]
    assert sorted(initial) == sorted(train | val)
    assert [person_split(p, 0.3, seed=5) for p in ("a", "b", "c")] == [
        person_split(p, 0.3, seed=5) for p in ("a", "b", "c")
    ]


def test_prompts_are_the_agents_own_and_revise_examples_are_on_policy(world: World) -> None:
    people = walkers(world, 2)
    result = examples_for(world, [candidate(p, more_steps(p, 3000), "m") for p in people])
    first, second = result.examples
    # The model being trained answers: right for the first person, too timid for the second.
    backend = ScriptedBackend(
        [
            json.dumps({"steps": people[0].row["steps"] + 3000, "rationale": "r"}),
            json.dumps({"steps": people[1].row["steps"] + 100, "rationale": "r"}),
        ]
    )
    proposer = LLMProposer(backend, world.spec, load_prompt("zero_shot"), load_prompt("revise"))
    request = renderer(world).request(people[0])
    assert request.probes is not None and request.probes.moves, "sensitivity probes are on"
    assert first.messages == proposer.render(request)[1]

    revise = revise_examples(
        world.spec,
        proposer,
        renderer(world),
        world.verifiers,
        people,
        result.examples,
        "m0",
        teacher=lambda row, start, exclude: None,  # the teacher finds nothing from there
    )

    [example] = revise  # the right first answer needs no revision
    assert example.person_id == people[1].query_id and example.round == "revise"
    assert example.previous is not None
    assert example.previous["steps"] == people[1].row["steps"] + 100  # the model's own answer
    assert "Independent checks rejected it" in example.messages[1]["content"]
    assert "classifier" in example.messages[1]["content"].lower()  # the verifiers' real reason
    assert example.answer == second.answer and example.split == second.split
    assert example.provenance["previous"] == "m0 first proposal"
    assert example.provenance["answer"] == "person's target"
    record = example.record()
    assert "messages" not in record and len(record["prompt_sha256"]) == 64


def test_run_output_and_audit_log_sources(world: World, tmp_path: Path) -> None:
    [person] = walkers(world, 1)
    cf = more_steps(person, 3000)
    results = tmp_path / "results.jsonl"
    results.write_text(
        json.dumps(
            {"query_id": person.query_id, "counterfactuals": [{"values": cf, "source": "embedded"}]}
        )
        + "\n"
    )
    assert run_candidates(results) == [
        Candidate(
            person_id=person.query_id,
            values=cf,
            provenance={"kind": "run", "method": "embedded", "file": str(results)},
        )
    ]

    db = tmp_path / "audit.db"
    with AuditStore(db) as store:
        run_id = store.start_run("run", "embedded", "zero_shot", "h", {})
        rejected = more_steps(person, 4000)
        store.append(
            run_id,
            EventType.ACCEPTED,
            {"accepted": [{"values": cf, "source": "refine"}, {"values": rejected, "source": "x"}]},
            person.query_id,
        )
        store.append(
            run_id,
            EventType.REVIEW,
            {"action": "reject", "values": rejected, "reason": "r"},
            person.query_id,
        )
    [found] = audit_candidates(db)
    assert found.values == cf and found.provenance["method"] == "refine"
    assert found.provenance["run_id"] == run_id

    assert parse_sources(f"dice-random, run:{results},audit:{db}") == [
        "dice-random",
        f"run:{results}",
        f"audit:{db}",
    ]
    with pytest.raises(SourceError, match="unknown training-data source"):
        parse_sources("dice-randomm")
    with pytest.raises(SourceError, match="does not exist"):
        parse_sources(f"run:{tmp_path / 'missing.jsonl'}")


def test_revise_targets_continue_the_rejected_change_with_probes_from_it(world: World) -> None:
    [person] = walkers(world, 1)
    result = examples_for(world, [candidate(person, more_steps(person, 3000), "m")], "compact")
    timid = more_steps(person, 100)
    backend = ScriptedBackend([json.dumps({"steps": timid["steps"], "rationale": "r"})])
    proposer = LLMProposer(backend, world.spec, *load_prompts("compact"))
    continued = more_steps(person, 2500)
    [example] = revise_examples(
        world.spec,
        proposer,
        renderer(world, "compact"),
        world.verifiers,
        [person],
        result.examples,
        "m0",
        teacher=lambda row, start, exclude: {**start, "steps": continued["steps"]},
    )
    assert example.provenance["answer"] == "teacher from previous"
    assert json.loads(example.answer)["steps"] == continued["steps"]  # not the person's target
    prompt = example.messages[1]["content"]
    # The probes go from the rejected change: its step count is where they start.
    assert f"steps {timid['steps']}->" in prompt, prompt
    request = renderer(world, "compact").request(person, previous=timid)
    assert request.probes is not None
    assert all(m.now == timid[m.feature] for m in request.probes.moves)


def test_probe_revise_examples_start_from_the_best_probe_alone(world: World) -> None:
    # Steps 3,000-3,100: the best probe alone (+5,000, the largest step) ends at p(normal)
    # 0.55-0.62, which passes the plain verifiers but not a 0.25 margin.
    queries = plan_queries(world.cohort, world.bundle, None)
    people = [q for q in queries if 3000 <= q.row["steps"] <= 3100]
    assert people
    result = examples_for(
        world, [candidate(p, more_steps(p, 5000), "m") for p in people], "compact"
    )
    strict = Verifiers(
        classifier_check=ClassifierCheck(world.bundle, world.spec, margin=0.25),
        actionability=world.verifiers.actionability,
        plausibility=world.verifiers.plausibility,
    )
    examples = probe_revise_examples(
        world.spec,
        renderer(world, "compact"),
        strict,
        people,
        result.examples,
        teacher=lambda row, start, exclude: None,
    )
    targeted = {e.person_id for e in result.examples}
    rejected = [
        p
        for p in people
        if p.query_id in targeted
        and not strict.all_passed(strict.check(p.row, more_steps(p, 5000)))
    ]
    assert len(rejected) >= 2
    assert [e.person_id for e in examples] == [p.query_id for p in rejected]
    for example, query in zip(examples, rejected, strict=True):
        assert example.round == "revise" and example.provenance["previous"] == "best probe alone"
        assert example.previous == {**query.row, "steps": query.row["steps"] + 5000}
        assert example.provenance["answer"] == "person's target"  # the teacher found nothing
        assert "margin" in example.messages[1]["content"]  # the strict verifier's real feedback
