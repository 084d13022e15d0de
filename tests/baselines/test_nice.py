"""NICE from the NICEx package behind the Proposer, checked on fixed cases worked out by hand.

NICE takes the nearest training row (HEOM: range-scaled |Δ| for numbers, 0/1 for categories)
among those the model puts in the desired class and predicts correctly, then copies its values
into the person one feature at a time (the copy that raises p(desired) most first) until the
model flips. The cases below have a tree classifier with known splits, so the CF is known.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from baselines.baseline_world import SmallWorld, small_world
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier

from cf_agent.data.spec import Feature, FeatureSpec
from cf_agent.models.baselines import load_baseline
from cf_agent.models.baselines.nice import NiceProposer
from cf_agent.models.classifier import wrap_estimator
from cf_agent.proposers import CFRequest

SPEC = FeatureSpec(
    label="label",
    classes={0: "no", 1: "yes"},
    desired_class=1,
    features=(
        Feature(name="x", kind="float", description="x", group="wearable", low=0, high=10),
        Feature(name="y", kind="int", description="y", group="wearable", low=0, high=100),
        Feature(
            name="c", kind="categorical", description="c", group="clinical", categories=("a", "b")
        ),
    ),
)


def nice_for(rows: list[tuple[float, int, str, int]], depth: int) -> NiceProposer:
    train = pd.DataFrame(rows, columns=["x", "y", "c", "label"])
    encode = ColumnTransformer(
        [("x", "passthrough", ["x"]), ("c", OneHotEncoder(categories=[["a", "b"]]), ["c"])]
    )
    tree = make_pipeline(encode, DecisionTreeClassifier(max_depth=depth, random_state=0))
    tree.fit(train[["x", "y", "c"]], train["label"])
    return NiceProposer(SPEC, wrap_estimator(tree, SPEC), train)


def explain(proposer: NiceProposer, person: dict[str, Any], k: int = 1) -> list[Any]:
    request = CFRequest(query_id="p1", row=person, current_class=0, desired_class=1)
    return proposer.propose([request] * k)


def test_nice_copies_the_nearest_neighbours_value_that_flips_the_model() -> None:
    """Label = x > 5. Nearest class-1 row to (2, 10, a) is (6, 12, a): 4/8 + 2/80 = 0.525.
    Copying x (6) flips the tree, copying y (12) does not: the CF changes x only."""
    proposer = nice_for(
        [
            (1, 10, "a", 0),
            (2, 30, "b", 0),
            (3, 50, "a", 0),
            (4, 70, "b", 0),
            (6, 12, "a", 1),
            (7, 60, "b", 1),
            (8, 90, "a", 1),
            (9, 40, "b", 1),
        ],
        depth=1,
    )
    (proposal,) = explain(proposer, {"x": 2.0, "y": 10, "c": "a"})
    assert proposal.values == {"x": 6.0, "y": 10, "c": "a"}
    assert type(proposal.values["y"]) is int and proposal.source == "nice"


def test_nice_switches_a_category_when_that_is_the_one_copy_that_flips() -> None:
    """Label = (c = b and x > 4). Nearest class-1 row to (8, 65, a) is (7, 60, b):
    1/8 + 5/80 + 1 = 1.19. Of its three differing values only c = b flips the tree."""
    proposer = nice_for(
        [
            (1, 10, "a", 0),
            (2, 30, "b", 0),
            (7, 50, "a", 0),
            (8, 70, "a", 0),
            (6, 12, "b", 1),
            (7, 60, "b", 1),
            (9, 90, "b", 1),
            (8, 40, "b", 1),
        ],
        depth=2,
    )
    (proposal,) = explain(proposer, {"x": 8.0, "y": 65, "c": "a"})
    assert proposal.values == {"x": 8.0, "y": 65, "c": "b"}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    return small_world(tmp_path_factory)


def test_nice_gives_one_full_row_per_person_and_says_so_for_more(small: SmallWorld) -> None:
    proposer = load_baseline("nice", small.spec, small.bundle, small.train)
    query = small.queries(1)[0]
    first, second = proposer.propose(small.requests(query, 2))
    assert first.values is not None, first.error
    assert list(first.values) == small.spec.feature_names
    assert all(type(first.values[f.name]) is int for f in small.spec.features if f.kind == "int")
    frame = pd.DataFrame([first.values])
    assert small.bundle.predict(frame)[0] == small.spec.desired_class
    assert second.values is None and second.error == "nice returned only 1 of 2 counterfactuals"
