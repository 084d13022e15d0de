"""`cf-agent export-gguf`: the shipped adapter as a llama.cpp LoRA, checked against peft."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

from cf_agent.cli import app
from cf_agent.errors import OutputError
from cf_agent.models.adapter_files import CARD_FILE, CONFIG_FILE, EMBEDDED_ADAPTER_DIR, WEIGHTS_FILE
from cf_agent.models.adapter_gguf import export_adapter_gguf
from cf_agent.models.llm.embedded import LocalModelError, embedded_gguf_path, embedded_model_dir

PROMPT = [
    {"role": "system", "content": "You propose counterfactual changes as JSON."},
    {
        "role": "user",
        "content": "bmi 31, steps 4000, sleep 380 min. Change them for normal glucose.",
    },
]


@pytest.fixture
def adapter_copy(tmp_path: Path) -> Path:
    """The shipped adapter without its card, so a test may edit its files."""
    folder = tmp_path / "adapter"
    shutil.copytree(EMBEDDED_ADAPTER_DIR, folder)
    (folder / CARD_FILE).unlink()
    return folder


def next_token_logits(ids: list[int], adapter_gguf: Path | None) -> np.ndarray:
    from llama_cpp import Llama

    llm = Llama(
        str(embedded_gguf_path()),
        lora_path=str(adapter_gguf) if adapter_gguf else None,
        n_ctx=512,
        n_threads=1,
        logits_all=True,
        verbose=False,
    )
    llm.eval(ids)
    return np.asarray(llm.scores[len(ids) - 1])


@pytest.mark.slow
def test_llama_cpp_with_the_exported_lora_predicts_what_peft_predicts(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python missing; make setup-dev")
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "adapter.gguf"
    assert export_adapter_gguf(EMBEDDED_ADAPTER_DIR, embedded_gguf_path(), out) == 210
    folder = embedded_model_dir()
    ids = list(
        AutoTokenizer.from_pretrained(folder).apply_chat_template(PROMPT, tokenize=True)[
            "input_ids"
        ]
    )
    base = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tuned = PeftModel.from_pretrained(base, EMBEDDED_ADAPTER_DIR)
    with torch.no_grad():
        peft_logits = tuned(torch.tensor([ids])).logits[0, -1].numpy()

    served = next_token_logits(ids, out)
    raw = next_token_logits(ids, None)

    # 0.999 here; 0.988 with the rotary permutation of q left out (a subtle mismatch).
    assert np.corrcoef(served, peft_logits)[0, 1] > 0.997
    assert np.argsort(-served)[:3].tolist() == np.argsort(-peft_logits)[:3].tolist()
    # ...and the adapter is really applied: without it, llama.cpp predicts something else.
    assert np.corrcoef(raw, peft_logits)[0, 1] < 0.9
    assert np.argmax(raw) != np.argmax(peft_logits)


def test_cli_writes_a_lora_gguf_of_the_shipped_adapter(tmp_path: Path) -> None:
    import gguf

    out = tmp_path / "adapter.gguf"
    result = CliRunner().invoke(app, ["export-gguf", "--out", str(out)])

    assert result.exit_code == 0, result.output
    reader = gguf.GGUFReader(out)
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.lora.alpha"].contents() == 32.0
    names = {t.name for t in reader.tensors}
    assert len(names) == 420
    assert {"blk.0.attn_q.weight.lora_a", "blk.29.ffn_down.weight.lora_b"} <= names


def test_an_existing_out_is_kept_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "adapter.gguf"
    out.write_bytes(b"mine")

    with pytest.raises(OutputError, match="already exists"):
        export_adapter_gguf(EMBEDDED_ADAPTER_DIR, embedded_gguf_path(), out)
    assert out.read_bytes() == b"mine"

    export_adapter_gguf(EMBEDDED_ADAPTER_DIR, embedded_gguf_path(), out, overwrite=True)
    assert out.stat().st_size > 1_000_000


def test_per_module_ranks_are_refused(adapter_copy: Path, tmp_path: Path) -> None:
    config = json.loads((adapter_copy / CONFIG_FILE).read_text())
    (adapter_copy / CONFIG_FILE).write_text(json.dumps({**config, "rank_pattern": {"q_proj": 8}}))

    with pytest.raises(LocalModelError, match="rank or alpha per module"):
        export_adapter_gguf(adapter_copy, embedded_gguf_path(), tmp_path / "a.gguf")
    assert list(tmp_path.glob("*.gguf")) == []


def test_an_adapter_of_another_base_is_refused(adapter_copy: Path, tmp_path: Path) -> None:
    tensors = load_file(adapter_copy / WEIGHTS_FILE)
    name = "base_model.model.model.layers.3.mlp.up_proj.lora_A.weight"
    tensors[name] = np.zeros((16, 640), dtype=np.float32)  # a wider model's hidden size
    save_file(tensors, adapter_copy / WEIGHTS_FILE)

    with pytest.raises(LocalModelError, match=r"blk\.3\.ffn_up\.weight is 1536x640"):
        export_adapter_gguf(adapter_copy, embedded_gguf_path(), tmp_path / "a.gguf")
    assert list(tmp_path.glob("*.gguf")) == []


def test_a_weight_outside_the_llama_layers_is_refused(adapter_copy: Path, tmp_path: Path) -> None:
    tensors = load_file(adapter_copy / WEIGHTS_FILE)
    tensors["base_model.model.lm_head.lora_A.weight"] = np.zeros((16, 576), dtype=np.float32)
    save_file(tensors, adapter_copy / WEIGHTS_FILE)

    with pytest.raises(LocalModelError, match=r"lm_head\.lora_A\.weight"):
        export_adapter_gguf(adapter_copy, embedded_gguf_path(), tmp_path / "a.gguf")


def test_an_adapter_gguf_is_refused_as_base(tmp_path: Path) -> None:
    first = tmp_path / "first.gguf"
    export_adapter_gguf(EMBEDDED_ADAPTER_DIR, embedded_gguf_path(), first)

    with pytest.raises(LocalModelError, match="not a whole model"):
        export_adapter_gguf(EMBEDDED_ADAPTER_DIR, first, tmp_path / "second.gguf")
