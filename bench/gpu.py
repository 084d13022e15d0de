"""Benchmark: the local-model GPU path (generation and LoRA training) for Llama-architecture models.

Models are built from a config with random weights (nothing can be downloaded on the GPU
machine; random weights measure speed, not quality): ~1B (Llama-3.2-1B's shape) and ~8B
(Llama-3.1-8B's shape), bf16 on CUDA. `tiny` is a CPU smoke size that checks the script runs.

Generation uses cf-agent's local-backend settings: greedy, left-padded batches, KV cache. Every
row generates exactly --new-tokens tokens (EOS is ignored: random weights emit it at random).
A "proposal" is one prompt of --prompt-tokens tokens (the embedded model's median prompt on the
demo cohort is ~1,300 tokens) answered with --new-tokens tokens (median compact answer: ~42).

- decode tok/s, single stream, default `generate` (dynamic KV cache), and with a static KV cache
  (transformers compiles the forward; the first, compiling call is a warm-up and not timed);
- the memory-bandwidth bound for single-stream decode: measured copy bandwidth / weight bytes
  (each new token reads every weight once);
- batched proposals/s and tok/s at --batch;
- LoRA training with cf-agent's trainer settings (r16, alpha 32, all linear projections,
  gradient checkpointing, AdamW): training tokens/s at --train-batch x --train-length and the
  peak CUDA memory.

Usage: python bench/gpu.py [--sizes 1b,8b] [--batch 64] [--prompt-tokens 1300]
       [--new-tokens 48] [--train-batch 8] [--train-length 512] [--write-docs]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

import torch
from common import machine_line, markdown_table, rich_table, update_docs_section
from rich.console import Console
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

from cf_agent.finetune.train import LoraSettings

SHAPES: dict[str, dict[str, int]] = {
    "tiny": dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, vocab_size=1024),
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
               num_attention_heads=32, num_key_value_heads=8, vocab_size=128256),
    "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
               num_attention_heads=32, num_key_value_heads=8, vocab_size=128256),
}  # fmt: skip
HEADERS = (
    "model", "params", "decode tok/s", "static-cache tok/s", "bound tok/s", "% of bound",
    "batch", "proposals/s", "batched tok/s", "LoRA train tok/s", "train peak GiB",
)  # fmt: skip


def timed(device: str, fn: Callable[[], Any]) -> float:
    """Seconds `fn` takes, with the device synchronised on both sides."""
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def copy_bandwidth(device: str, gib: float = 1.0) -> float:
    """Bytes/s of a device-to-device copy (read + write), the best of five."""
    source = torch.empty(int(gib * 2**30), dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    best = min(timed(device, lambda: target.copy_(source)) for _ in range(5))
    return 2 * source.numel() / best


def build_model(size: str, device: str, dtype: torch.dtype) -> LlamaForCausalLM:
    config = LlamaConfig(**SHAPES[size], max_position_embeddings=8192, tie_word_embeddings=False)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    return model.eval()


def generate_seconds(
    model: LlamaForCausalLM, rows: int, prompt: int, new: int, cache: str | None = None
) -> float:
    """Seconds to generate `new` tokens for `rows` left-padded random prompts of `prompt` tokens."""
    device = model.device.type
    ids = torch.randint(10, model.config.vocab_size, (rows, prompt), device=model.device)
    config = GenerationConfig(
        max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0, eos_token_id=None
    )
    if cache is not None:
        config.cache_implementation = cache
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    with torch.inference_mode():
        return timed(device, lambda: model.generate(**inputs, generation_config=config))


def decode_rate(model: LlamaForCausalLM, prompt: int, new: int, cache: str | None) -> float:
    """Single-stream decode tok/s: (time for new tokens - time for the prefill + first token)."""
    generate_seconds(model, 1, prompt, new, cache)  # warm-up (and compilation for "static")
    first = generate_seconds(model, 1, prompt, 1, cache)
    full = generate_seconds(model, 1, prompt, new, cache)
    return (new - 1) / max(full - first, 1e-9)


def lora_training(
    model: LlamaForCausalLM, batch: int, length: int, steps: int
) -> tuple[float, float]:
    """(training tokens/s, peak CUDA GiB) for LoRA with cf-agent's default trainer settings."""
    from peft import LoraConfig, get_peft_model

    settings = LoraSettings()
    device = model.device.type
    model.config.use_cache = False
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    peft_model = get_peft_model(
        model,
        LoraConfig(
            r=settings.rank,
            lora_alpha=settings.alpha,
            lora_dropout=settings.dropout,
            target_modules=list(settings.target_modules),
            task_type="CAUSAL_LM",
        ),
    )
    peft_model.train()
    optimizer = torch.optim.AdamW(
        [p for p in peft_model.parameters() if p.requires_grad], lr=settings.learning_rate
    )
    ids = torch.randint(10, model.config.vocab_size, (batch, length), device=model.device)

    def step() -> None:
        loss = peft_model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up: allocations, kernels
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seconds = timed(device, lambda: [step() for _ in range(steps)])
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else 0.0
    return steps * batch * length / seconds, peak


def measure(size: str, args: argparse.Namespace, device: str, bandwidth: float) -> list[str]:
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = build_model(size, device, dtype)
    params = sum(p.numel() for p in model.parameters())
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    bound = bandwidth / weight_bytes
    dynamic = decode_rate(model, args.prompt_tokens, args.decode_tokens, None)
    static = decode_rate(model, args.prompt_tokens, args.decode_tokens, "static")
    generate_seconds(model, args.batch, args.prompt_tokens, 2)  # warm-up at this batch shape
    batched = generate_seconds(model, args.batch, args.prompt_tokens, args.new_tokens)
    train_rate, peak = lora_training(model, args.train_batch, args.train_length, args.train_steps)
    del model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    return [
        size,
        f"{params / 1e9:.2f} B",
        f"{dynamic:,.1f}",
        f"{static:,.1f}",
        f"{bound:,.0f}",
        f"{100 * dynamic / bound:.0f} / {100 * static / bound:.0f}",
        str(args.batch),
        f"{args.batch / batched:,.1f}",
        f"{args.batch * args.new_tokens / batched:,.0f}",
        f"{train_rate:,.0f}",
        "-" if device != "cuda" else f"{peak:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    cuda = torch.cuda.is_available()
    parser.add_argument("--sizes", default="1b,8b" if cuda else "tiny", help="1b, 8b, tiny")
    parser.add_argument("--batch", type=int, default=64, help="rows per batched generate")
    parser.add_argument("--prompt-tokens", type=int, default=1300)
    parser.add_argument("--new-tokens", type=int, default=48, help="tokens per proposal")
    parser.add_argument("--decode-tokens", type=int, default=128, help="single-stream run")
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-length", type=int, default=512)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown size(s) {unknown}: choose from {', '.join(SHAPES)}")

    console = Console()
    device = "cuda" if cuda else "cpu"
    where = torch.cuda.get_device_name() if cuda else "CPU (smoke run: no GPU here)"
    bandwidth = copy_bandwidth(device)
    console.print(f"{where}: measured copy bandwidth {bandwidth / 1e9:,.0f} GB/s")
    rows = []
    for size in sizes:
        console.print(f"{size}: building, generating, training ...")
        rows.append(measure(size, args, device, bandwidth))
    title = (
        f"Local-model GPU path on {where} (random weights; prompt {args.prompt_tokens} tokens, "
        f"{args.new_tokens} new tokens per proposal)"
    )
    console.print(rich_table(title, HEADERS, rows))
    machine = f"{where}, copy bandwidth {bandwidth / 1e9:,.0f} GB/s; {machine_line()}"
    console.print(machine)
    if args.write_docs:
        body = "\n\n".join(
            [
                f"{title}. Targets: >= 100 proposals/s batched for the 8B shape; single-stream "
                "decode >= 50 % of the bandwidth bound.",
                markdown_table(HEADERS, rows),
                f"Machine: {machine}",
                "Command: `python bench/gpu.py --write-docs`",
            ]
        )
        console.print(f"updated {update_docs_section('gpu.py', 'GPU path', body)}")


if __name__ == "__main__":
    main()
