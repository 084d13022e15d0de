"""A tiny causal LM (random weights, 2 layers of width 32) with the embedded model's tokenizer.

For tests of fine-tuning's machinery (checkpoints, resume), where the answer's quality does not
matter and the embedded model's 135M parameters would cost minutes per step on a shared CPU.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from cf_agent.models.llm.embedded import embedded_model_dir

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def write_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Save the tiny model into `folder` (made if missing) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    source = embedded_model_dir()
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, folder / name)
    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    return folder
