"""What the openai: backend sends as the tool's schema: `required` never reorders the answer."""

from __future__ import annotations

from world import World

from cf_agent.models.llm.openai_compat import ordered_required
from cf_agent.models.llm.schema import counterfactual_json_schema


def test_a_required_rationale_after_optional_features_becomes_optional(world: World) -> None:
    schema = counterfactual_json_schema(world.spec)

    sent = ordered_required(schema)

    assert "required" not in sent
    assert list(sent["properties"]) == list(schema["properties"])
    assert list(sent["properties"])[-1] == "rationale"
    assert schema["required"] == ["rationale"]  # the caller's schema is left as it was


def test_required_properties_that_lead_the_order_stay_required() -> None:
    schema = {
        "type": "object",
        "properties": {"steps": {"type": "integer"}, "why": {"type": "string"}, "x": {}},
        "required": ["steps", "why"],
    }

    assert ordered_required(schema)["required"] == ["steps", "why"]
    assert ordered_required({**schema, "required": ["steps", "x"]})["required"] == ["steps"]
    assert "required" not in ordered_required({**schema, "required": ["x"]})
