"""`embedded` is the embedded model with the shipped adapter; `embedded-base` is the raw model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cf_agent.models.llm import local
from cf_agent.models.llm.embedded import LocalModelError
from cf_agent.models.llm.local import EMBEDDED_ADAPTER_DIR, TransformersBackend
from cf_agent.models.registry import load_backend


def test_shipped_adapter_has_weights_and_a_card() -> None:
    names = {p.name for p in EMBEDDED_ADAPTER_DIR.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "card.json", "README.md"} <= names
    card = json.loads((EMBEDDED_ADAPTER_DIR / "card.json").read_text())
    assert card["base_model"] == "embedded-base"
    assert card["metrics"]["before"]["queries"] == card["metrics"]["after"]["queries"] > 0


def test_missing_shipped_adapter_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(local, "EMBEDDED_ADAPTER_DIR", tmp_path / "gone")

    with pytest.raises(LocalModelError, match="adapter is missing") as caught:
        TransformersBackend.embedded()
    assert "embedded-base" in caught.value.fix


@pytest.mark.slow
def test_embedded_merges_the_shipped_adapter_and_embedded_base_does_not() -> None:
    adapted = load_backend("embedded")
    raw = load_backend("embedded-base")

    assert isinstance(adapted, TransformersBackend) and isinstance(raw, TransformersBackend)
    assert (adapted.model_string, adapted.adapter_path) == ("embedded", EMBEDDED_ADAPTER_DIR)
    assert (raw.model_string, raw.adapter_path) == ("embedded-base", None)
    last = len(raw.model_.model.layers) - 1
    assert not torch.equal(
        adapted.model_.model.layers[last].self_attn.q_proj.weight,
        raw.model_.model.layers[last].self_attn.q_proj.weight,
    )
