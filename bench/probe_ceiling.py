"""How far the first-round prompt alone can take a model: the best CF made only of what its
probes show.

For each of the first --n people the demo classifier puts outside the desired class (demo
cohort 2,000 people, seed 0, gbm: the people of bench/speed_vs_baselines.py), take the probes
the compact prompt shows (`probe_moves`, top 4) and try every combination of them, each feature
moved whole or half-way; count the people for whom at least one combination passes all three
verifiers. A model that only reads its first-round prompt cannot do better than this at the
first proposal; revise rounds (probes from the rejected change) can. It also counts the people
reached by the `probes` teacher's first rule, "the first k probes, whole" (the shortest prefix
that passes), and by "always the first two, whole". With --model it also sorts that model's
first proposals on the same people by the rule: passed; a prefix shorter than the shortest
passing one (stopped too soon); something else; which tells where a fine-tuned model falls short
of what its prompt allows. With --rounds R it follows the rule through R rounds as the agent
asks them: each round, the shortest prefix of the probes shown from the last rejected change
that passes; when none passes, the first probe whole, rejected, and probes from there; which
bounds what a model taught that rule can reach in R rounds.

Usage: python bench/probe_ceiling.py [--n 100] [--top 4] [--model embedded] [--rounds 4]
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from common import demo_world

from cf_agent.agent.queries import Query, plan_queries
from cf_agent.agent.runner import build_verifiers
from cf_agent.data.cohort import load_cohort
from cf_agent.data.spec import FeatureSpec, load_spec
from cf_agent.finetune.answers import emittable_cf
from cf_agent.finetune.examples import PromptRenderer
from cf_agent.models.baselines.probes import probe_combinations, probe_prefixes
from cf_agent.models.classifier import ClassifierBundle, load_bundle
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.models.registry import default_prompt, load_backend
from cf_agent.prompts.render import load_prompts
from cf_agent.tools.metrics import changed_features
from cf_agent.tools.sensitivity import probe_moves
from cf_agent.tools.verifiers import Verifiers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--top", type=int, default=4, help="probes shown (the compact prompt: 4)")
    parser.add_argument("--model", help="also sort this model's first proposals (compact prompt)")
    parser.add_argument("--rounds", type=int, default=0, help="follow the prefix rule R rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        world = demo_world(Path(tmp))
        spec = load_spec(world.spec)
        cohort = load_cohort(world.csv, spec)
        bundle = load_bundle(world.model_dir, spec)
        verifiers = build_verifiers(spec, bundle, cohort, world.model_dir, 0.0)
        people = plan_queries(cohort, bundle, args.n)
        proposals = first_proposals(args.model, spec, bundle, people) if args.model else []
        reachable = first_two = 0
        shortest: Counter[int] = Counter()
        rounds: Counter[int] = Counter()
        model_outcomes: Counter[str] = Counter()
        for i, person in enumerate(people):

            def passes(cf: dict[str, Any], row: dict[str, Any] = person.row) -> bool:
                return Verifiers.all_passed(verifiers.check(row, emittable_cf(spec, row, cf)))

            moves = probe_moves(bundle, spec, person.row, top=args.top).moves
            reachable += any(passes(c) for c in probe_combinations(spec, person.row, moves))
            prefixes = [passes(c) for c in probe_prefixes(spec, person.row, moves)]
            first_two += len(prefixes) > 1 and prefixes[1]
            if any(prefixes):
                shortest[prefixes.index(True) + 1] += 1
            if args.rounds:
                rounds[rule_rounds(spec, bundle, verifiers, person.row, args.top, args.rounds)] += 1
            if proposals:
                need = prefixes.index(True) + 1 if any(prefixes) else None
                wrote = proposals[i]
                written = (
                    len(changed_features(spec, person.row, wrote)) if wrote is not None else None
                )
                passed = wrote is not None and passes(wrote)
                if passed:
                    outcome = "passed"
                elif need is not None and written is not None and written < need:
                    outcome = "too few features"
                else:
                    outcome = "failed otherwise"
                reach = "prefix rule reaches" if need else "prefix rule does not reach"
                model_outcomes[f"{reach}: {outcome}"] += 1
    n = len(people)
    print(
        f"{reachable} of {n} people have a CF made only of the {args.top} probes shown "
        f"(each whole or half-way) that passes all three verifiers"
    )
    reached = ", ".join(
        f"k <= {k}: {sum(shortest[j] for j in range(1, k + 1))}" for k in range(1, args.top + 1)
    )
    print(f"the first k probes, whole (shortest passing prefix): {reached} of {n}")
    print(f"always the first two, whole: {first_two} of {n}")
    if args.rounds:
        within = ", ".join(
            f"{r}: {sum(rounds[j] for j in range(1, r + 1))}" for r in range(1, args.rounds + 1)
        )
        print(f"the prefix rule round after round, passed within rounds {within} of {n}")
    for outcome, count in sorted(model_outcomes.items()):
        print(f"{args.model}, first proposal, {outcome}: {count} of {n}")


def rule_rounds(
    spec: FeatureSpec,
    bundle: ClassifierBundle,
    verifiers: Verifiers,
    row: dict[str, Any],
    top: int,
    limit: int,
) -> int:
    """The round in which the prefix rule, continued from each rejected change, passes (0: not
    within `limit` rounds); a round with no passing prefix proposes the first probe whole."""
    start: dict[str, Any] | None = None
    for round_no in range(1, limit + 1):
        moves = probe_moves(bundle, spec, row, top=top, start=start).moves
        prefixes = [
            emittable_cf(spec, row, c) for c in probe_prefixes(spec, row, moves, start=start)
        ]
        if not prefixes:
            return 0
        if any(Verifiers.all_passed(verifiers.check(row, c)) for c in prefixes):
            return round_no
        start = prefixes[0]
    return 0


def first_proposals(
    model: str, spec: FeatureSpec, bundle: ClassifierBundle, people: list[Query]
) -> list[dict[str, Any] | None]:
    """The model's first proposal for each person, as the agent's first round asks for it."""
    initial, revise = load_prompts(default_prompt(model))
    renderer = PromptRenderer(spec, bundle, initial, revise)
    proposer = LLMProposer(load_backend(model), spec, initial, revise)
    return [p.values for p in proposer.propose([renderer.request(q) for q in people])]


if __name__ == "__main__":
    main()
