"""Write a PEFT LoRA adapter as a llama.cpp LoRA GGUF, to serve it beside its base GGUF.

llama.cpp (`llama_cpp.server --model base.gguf --lora_path adapter.gguf`, llama-server,
ollama) applies such a file at run time: W x + scale * B (A x), scale = alpha / rank. The file
holds each adapted weight's A and B under the base GGUF's tensor names (`blk.<i>.attn_q.weight`
+ `.lora_a` / `.lora_b`) and `adapter.lora.alpha`. The llama GGUF stores the query and key
rows permuted for its rotary layout (llama.cpp's convert_hf_to_gguf does it, transformers
undoes it on load), so B's rows of those two are permuted the same way. Shapes are checked
against the base GGUF, so an adapter trained on another base is refused, not served wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cf_agent.errors import OutputError
from cf_agent.fileio import atomic_path
from cf_agent.models.adapter_files import CONFIG_FILE, WEIGHTS_FILE, verify_adapter
from cf_agent.models.llm.embedded import LocalModelError

# HF module path (below model.layers.<i>.) -> llama.cpp tensor name (below blk.<i>.).
LLAMA_MODULES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
SUPPORTED_ARCHITECTURES = ("llama",)
_FIX = "export an adapter fine-tuned on this base model (cf-agent finetune --model ...)"


def export_adapter_gguf(adapter: Path, base_gguf: Path, out: Path, overwrite: bool = False) -> int:
    """Write `adapter` (a PEFT LoRA folder) as a llama.cpp LoRA GGUF for `base_gguf` at `out`,
    atomically; return how many weights it adapts."""
    import gguf

    if out.exists() and not overwrite:
        raise OutputError(f"{out} already exists", "pass --overwrite or choose --out")
    verify_adapter(adapter)
    config = json.loads((adapter / CONFIG_FILE).read_text(encoding="utf-8"))
    _check_config(adapter, config)
    base = _base_model(base_gguf)
    pairs = _lora_pairs(adapter)
    writer_tensors = []
    for (layer, module), (a, b) in sorted(pairs.items()):
        name = f"blk.{layer}.{LLAMA_MODULES[module]}.weight"
        _check_shape(adapter, name, a, b, base["shapes"].get(name))
        if module == "self_attn.q_proj":
            b = _rotary_permute(b, base["n_head"])
        elif module == "self_attn.k_proj":
            b = _rotary_permute(b, base["n_head_kv"])
        writer_tensors += [(f"{name}.lora_a", a), (f"{name}.lora_b", b)]
    with atomic_path(out) as tmp:
        writer = gguf.GGUFWriter(str(tmp), base["architecture"])
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
        for tensor_name, data in writer_tensors:
            writer.add_tensor(tensor_name, np.ascontiguousarray(data, dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return len(pairs)


def _check_config(adapter: Path, config: dict[str, Any]) -> None:
    """Refuse what one llama.cpp LoRA file cannot express: one alpha and rank for all weights."""
    problems = []
    if config.get("peft_type") != "LORA":
        problems.append(f"peft_type is {config.get('peft_type')!r}, not 'LORA'")
    if config.get("use_dora"):
        problems.append("it is a DoRA adapter")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        problems.append("it sets a rank or alpha per module")
    if config.get("modules_to_save"):
        problems.append("it trains whole modules (modules_to_save)")
    if not isinstance(config.get("lora_alpha"), (int, float)):
        problems.append("its lora_alpha is missing")
    if problems:
        raise LocalModelError(
            f"{adapter / CONFIG_FILE} cannot be written as a llama.cpp LoRA: "
            + "; ".join(problems),
            "export a plain LoRA adapter (cf-agent finetune writes one)",
        )


def _base_model(base_gguf: Path) -> dict[str, Any]:
    """The base GGUF's architecture, head counts and tensor shapes (rows, columns)."""
    import gguf

    try:
        reader = gguf.GGUFReader(base_gguf)
    except (OSError, ValueError) as exc:
        raise LocalModelError(
            f"base model {base_gguf} cannot be read as a GGUF: {exc}",
            "give the GGUF the adapter's base model was converted from (--base-gguf)",
        ) from None
    fields = {name: field.contents() for name, field in reader.fields.items()}
    architecture = fields.get("general.architecture")
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise LocalModelError(
            f"base model {base_gguf} has architecture {architecture!r}; "
            f"export supports {', '.join(SUPPORTED_ARCHITECTURES)}",
            "serve this adapter with transformers instead (hf:<base>@<adapter>)",
        )
    heads = [fields.get(f"{architecture}.attention.head_count{s}") for s in ("", "_kv")]
    if fields.get("general.type", "model") != "model" or not all(isinstance(n, int) for n in heads):
        raise LocalModelError(
            f"{base_gguf} is not a whole model (general.type {fields.get('general.type')!r}, "
            f"head counts {heads})",
            "give the base model's GGUF, not an adapter's (--base-gguf)",
        )
    return {
        "architecture": architecture,
        "n_head": heads[0],
        "n_head_kv": heads[1],
        # GGUF lists dimensions fastest first: (columns, rows) of the matrix.
        "shapes": {t.name: tuple(int(d) for d in t.shape[::-1]) for t in reader.tensors},
    }


def _lora_pairs(adapter: Path) -> dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]:
    """(layer, module) -> (A, B) from the adapter's weights, every name accounted for."""
    from safetensors.numpy import load_file

    tensors = load_file(adapter / WEIGHTS_FILE)
    halves: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    for name, data in tensors.items():
        key, half = _parse_name(adapter, name)
        halves.setdefault(key, {})[half] = data.astype(np.float32)
    pairs = {}
    for key, found in halves.items():
        if set(found) != {"A", "B"}:
            raise LocalModelError(
                f"{adapter / WEIGHTS_FILE} has lora_{''.join(found)} but not its partner "
                f"for layer {key[0]} {key[1]}",
                _FIX,
            )
        pairs[key] = (found["A"], found["B"])
    return pairs


def _parse_name(adapter: Path, name: str) -> tuple[tuple[int, str], str]:
    """`base_model.model.model.layers.3.mlp.up_proj.lora_A.weight` -> ((3, 'mlp.up_proj'), 'A')."""
    _, sep, tail = name.partition(".layers.")
    layer, _, rest = tail.partition(".")
    module, _, suffix = rest.rpartition(".lora_")
    if not (sep and layer.isdigit() and module in LLAMA_MODULES and suffix[:2] in ("A.", "B.")):
        raise LocalModelError(
            f"{adapter / WEIGHTS_FILE} holds {name!r}, which is not a LoRA weight of a "
            f"llama layer ({', '.join(LLAMA_MODULES)})",
            _FIX,
        )
    return (int(layer), module), suffix[0]


def _check_shape(
    adapter: Path, name: str, a: np.ndarray, b: np.ndarray, base: tuple[int, ...] | None
) -> None:
    rows, cols = b.shape[0], a.shape[-1]
    if base != (rows, cols) or a.shape[0] != b.shape[-1]:
        found = "missing" if base is None else "x".join(map(str, base))
        raise LocalModelError(
            f"{adapter.name}'s LoRA for {name} is {rows}x{cols} (rank {a.shape[0]}); "
            f"that weight of the base model is {found}",
            _FIX,
        )


def _rotary_permute(rows: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder output rows as the llama GGUF stores q and k (each head's halves interleaved)."""
    head_dim = rows.shape[0] // n_head
    shape = rows.shape
    return rows.reshape(n_head, 2, head_dim // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)
