"""How far the first-round prompt alone can take a model: the best CF made only of what its
probes show.

For each of the first --n people the demo classifier puts outside the desired class (demo
cohort 2,000 people, seed 0, gbm: the people of bench/speed_vs_baselines.py), take the probes
the compact prompt shows (`probe_moves`, top 4) and try every combination of them, each feature
moved whole or half-way; count the people for whom at least one combination passes all three
verifiers. A model that only reads its first-round prompt cannot do better than this at the
first proposal; revise rounds (probes from the rejected change) can. It also counts the people
reached by the `probes` teacher's first rule, "the first k probes, whole" (the shortest prefix
that passes), and by "always the first two, whole".

Usage: python bench/probe_ceiling.py [--n 100] [--top 4]
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from common import demo_world

from cf_agent.agent.queries import plan_queries
from cf_agent.agent.runner import build_verifiers
from cf_agent.data.cohort import load_cohort
from cf_agent.data.spec import load_spec
from cf_agent.finetune.answers import emittable_cf
from cf_agent.models.baselines.probes import probe_combinations, probe_prefixes
from cf_agent.models.classifier import load_bundle
from cf_agent.tools.sensitivity import probe_moves
from cf_agent.tools.verifiers import Verifiers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--top", type=int, default=4, help="probes shown (the compact prompt: 4)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        world = demo_world(Path(tmp))
        spec = load_spec(world.spec)
        cohort = load_cohort(world.csv, spec)
        bundle = load_bundle(world.model_dir, spec)
        verifiers = build_verifiers(spec, bundle, cohort, world.model_dir, 0.0)
        people = plan_queries(cohort, bundle, args.n)
        reachable = first_two = 0
        shortest: Counter[int] = Counter()
        for person in people:

            def passes(cf: dict[str, Any], row: dict[str, Any] = person.row) -> bool:
                return Verifiers.all_passed(verifiers.check(row, emittable_cf(spec, row, cf)))

            moves = probe_moves(bundle, spec, person.row, top=args.top).moves
            reachable += any(passes(c) for c in probe_combinations(spec, person.row, moves))
            prefixes = [passes(c) for c in probe_prefixes(spec, person.row, moves)]
            first_two += len(prefixes) > 1 and prefixes[1]
            if any(prefixes):
                shortest[prefixes.index(True) + 1] += 1
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


if __name__ == "__main__":
    main()
