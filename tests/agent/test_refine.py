"""Deterministic refinement: projection, walking the LLM's direction, greedy completion."""

from __future__ import annotations

from world import STEP_THRESHOLD, World

from cf_agent.tools.projection import project
from cf_agent.tools.refine import complete_greedily, refine, refine_along


def test_projection_respects_every_hard_constraint(world: World) -> None:
    query = world.query()
    wild = {
        **query,
        "age": query["age"] - 20,
        "steps": query["steps"] + 50_000,
        "bmi": query["bmi"] + 10,
        "sleep_deep_min": query["sleep_deep_min"] + 30,
        "resting_hr": 200.0,
        "sex": "other",
    }
    row = project(world.spec, query, wild)
    assert row["age"] == query["age"] and row["sex"] == query["sex"]
    assert row["steps"] == query["steps"] + 5000
    assert row["bmi"] == query["bmi"]  # decrease_only: an increase is undone
    parts = row["sleep_deep_min"] + row["sleep_rem_min"] + row["sleep_light_min"]
    assert row["sleep_total_min"] == parts
    assert row["resting_hr"] <= row["mean_hr"]
    assert world.verifiers.actionability.check(query, row).passed


def test_walks_along_the_llm_direction_to_the_smallest_flip(world: World) -> None:
    query = world.query()
    proposal = {**query, "steps": query["steps"] + 500}
    row = refine_along(world.spec, world.verifiers.classifier_check, query, proposal)
    assert row is not None and row["steps"] >= STEP_THRESHOLD - 50
    assert {n for n in world.spec.feature_names if row[n] != query[n]} == {"steps"}


def test_wrong_direction_is_completed_greedily(world: World) -> None:
    query = world.query()
    wrong = {**query, "steps": query["steps"] - 1000}
    assert refine_along(world.spec, world.verifiers.classifier_check, query, wrong) is None
    row = refine(world.spec, world.verifiers.classifier_check, query, wrong)
    assert row is not None
    assert world.verifiers.classifier_check.check(query, row).passed
    assert row["steps"] > query["steps"]


def test_greedy_completion_shrinks_to_a_small_change(world: World) -> None:
    query = world.query(steps_below=3000)
    row = complete_greedily(world.spec, world.verifiers.classifier_check, query, query)
    assert row is not None
    # the threshold classifier needs ~8,000 steps: the shrink step must not overshoot by much
    assert STEP_THRESHOLD - 100 <= row["steps"] <= STEP_THRESHOLD + 600


def test_infeasible_query_gives_none(world: World) -> None:
    query = world.query(steps_below=5500)  # more than one allowed step (5,000) below
    assert complete_greedily(world.spec, world.verifiers.classifier_check, query, query) is None
