"""LoRA fine-tuning with peft in a plain torch loop; loss only on the answer tokens.

Several epochs under a warmup + cosine learning-rate schedule. Every `eval_every` steps the
adapter is saved and scored by a caller-given `validity` function (the share of held-out people
whose first proposal passes every verifier); training stops after `patience` evaluations without
improvement and the best-scoring adapter is the one saved.

CPU: float32, for small models. CUDA: bfloat16 with gradient checkpointing, and 4-bit QLoRA
(NF4, via bitsandbytes) when bitsandbytes is importable. On a CPU the cost is the forward and
backward pass over ~1,000 prompt tokens per example; `top_layers` puts LoRA on the last layers
only, so the backward pass stops there (about 2x faster for a 30-layer model with 6).
"""

from __future__ import annotations

import importlib.util
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    get_cosine_schedule_with_warmup,
)

from cf_agent.errors import CfAgentError
from cf_agent.finetune.examples import TrainingExample
from cf_agent.finetune.options import LoraSettings
from cf_agent.models.llm.embedded import LocalModelError

IGNORE_INDEX = -100

StepFn = Callable[[int, int, float], None]
ValidityFn = Callable[[Path], float]


class TrainReport(BaseModel):
    """What training did and measured."""

    steps: int
    examples_used: int
    examples_too_long: int
    train_loss_first: float = Field(description="Mean loss of the first step.")
    train_loss_last: float = Field(description="Mean loss over the last 10 steps.")
    val_loss_before: float | None = Field(description="Answer-token loss on val, base model.")
    val_loss_after: float | None = Field(description="Answer-token loss on val, adapted.")
    seconds: float
    seconds_per_step: float
    tokens_per_second: float = Field(
        description="Training tokens per second (each example's own tokens; the shared prefix, "
        "computed once per step, not counted)."
    )
    shared_prefix_tokens: int = Field(default=0, description="Prompt tokens all examples share.")
    device: str
    dtype: str
    quantization: str
    gradient_checkpointing: bool
    trainable_parameters: int
    losses: list[float] = Field(description="Loss of every step.")
    validity: list[tuple[int, float]] = Field(
        default_factory=list,
        description="(step, held-out first-proposal validity) at each measurement.",
    )
    best_step: int | None = Field(default=None, description="Step of the adapter kept.")
    stopped_early: bool = Field(default=False, description="Patience ran out before the end.")


class Encoded(BaseModel):
    input_ids: list[int]
    labels: list[int]


def load_tokenizer(model_path: str) -> PreTrainedTokenizerBase:
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise LocalModelError(
            f"cannot load a tokenizer from {model_path}: {exc}",
            "pass a local chat model folder or a hub id already in the HF cache",
        ) from exc
    if not tokenizer.chat_template:
        raise LocalModelError(f"{model_path} has no chat template", "use a chat model")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def encode(tokenizer: PreTrainedTokenizerBase, example: TrainingExample) -> Encoded:
    """Prompt as the backend renders it; answer + end-of-turn token; labels only on the answer."""
    prompt = tokenizer.apply_chat_template(
        [{"role": m["role"], "content": m["content"]} for m in example.messages],
        tokenize=False,
        add_generation_prompt=True,
    )
    prompt_ids: list[int] = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids: list[int] = tokenizer(example.answer, add_special_tokens=False)["input_ids"]
    answer_ids.append(int(tokenizer.eos_token_id))
    return Encoded(
        input_ids=prompt_ids + answer_ids,
        labels=[IGNORE_INDEX] * len(prompt_ids) + answer_ids,
    )


def shared_prefix(items: Sequence[Encoded]) -> list[int]:
    """The longest run of prompt tokens every example starts with (system prompt, feature
    table), minus one token so each example keeps a prompt token of its own."""
    if not items:
        return []
    first = items[0].input_ids
    length = min(len(e.input_ids) for e in items) - 1
    for item in items[1:]:
        ids = item.input_ids
        length = next((i for i in range(length) if ids[i] != first[i]), length)
    # Never into the answer: the prefix holds prompt tokens only.
    for item in items:
        labelled = next(i for i, label in enumerate(item.labels) if label != IGNORE_INDEX)
        length = min(length, labelled)
    return list(first[: max(length, 0)])


def _tails(items: Sequence[Encoded], prefix: Sequence[int]) -> list[Encoded]:
    n = len(prefix)
    return [Encoded(input_ids=e.input_ids[n:], labels=e.labels[n:]) for e in items]


def _forward(
    model: Any, batch: Sequence[Encoded], prefix: Sequence[int], pad_id: int, device: str
) -> tuple[torch.Tensor, int, int]:
    """(summed answer-token loss, answer tokens, tokens processed) for one batch of tails.

    The shared prefix's key/value cache is computed once per batch without gradients (with
    the current adapter, so the forward pass is exact) and repeated for each row: each example
    then costs only its own ~150 tokens instead of ~450. The gradient stops at the prefix.
    """
    inputs = _collate(batch, pad_id, device)
    rows, width = inputs["input_ids"].shape
    kwargs: dict[str, Any] = {}
    mask = inputs["attention_mask"]
    if prefix:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            cache = model(
                input_ids=torch.tensor([list(prefix)], device=device), use_cache=True
            ).cache
        model.train(was_training)
        cache.batch_repeat_interleave(rows)
        kwargs["cache"] = cache
        kwargs["position_ids"] = (
            torch.arange(len(prefix), len(prefix) + width, device=device)
            .unsqueeze(0)
            .expand(rows, -1)
        )
        mask = torch.cat(
            [torch.ones(rows, len(prefix), dtype=mask.dtype, device=device), mask], dim=1
        )
    logits = model(input_ids=inputs["input_ids"], attention_mask=mask, **kwargs).logits
    shifted = inputs["labels"][:, 1:]
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]),
        shifted.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    return loss, int((shifted != IGNORE_INDEX).sum()), int(inputs["attention_mask"].sum())


def _collate(batch: Sequence[Encoded], pad_id: int, device: str) -> dict[str, torch.Tensor]:
    width = max(len(e.input_ids) for e in batch)
    ids = [e.input_ids + [pad_id] * (width - len(e.input_ids)) for e in batch]
    labels = [e.labels + [IGNORE_INDEX] * (width - len(e.labels)) for e in batch]
    mask = [[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in batch]
    return {
        "input_ids": torch.tensor(ids, device=device),
        "labels": torch.tensor(labels, device=device),
        "attention_mask": torch.tensor(mask, device=device),
    }


def _quantize(settings: LoraSettings, device: str) -> bool:
    if settings.quantization == "none" or not device.startswith("cuda"):
        if settings.quantization == "4bit":
            raise CfAgentError("4-bit QLoRA needs a CUDA GPU", "use --quantization none on CPU")
        return False
    has_bnb = importlib.util.find_spec("bitsandbytes") is not None
    if settings.quantization == "4bit" and not has_bnb:
        raise CfAgentError("4-bit QLoRA needs bitsandbytes", "pip install bitsandbytes")
    return has_bnb


def load_trainable(
    model_path: str, settings: LoraSettings, device: str
) -> tuple[Any, str, bool, bool]:
    """The base model wrapped with fresh LoRA layers: (model, dtype, quantized, checkpointing)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    cuda = device.startswith("cuda")
    quantized = _quantize(settings, device)
    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if cuda else torch.float32}
    if quantized:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
        )
        kwargs["device_map"] = {"": device}
    try:
        model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(
            model_path, local_files_only=True, **kwargs
        )
    except (OSError, ValueError) as exc:
        raise LocalModelError(
            f"cannot load a causal language model from {model_path}: {exc}",
            "pass the folder of a transformers causal LM (config.json + weights)",
        ) from exc
    if not quantized:
        model = model.to(device)  # type: ignore[arg-type]
    checkpointing = settings.gradient_checkpointing
    checkpointing = cuda if checkpointing is None else checkpointing
    model.config.use_cache = False
    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
    elif checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    n_layers = int(getattr(model.config, "num_hidden_layers", 0))
    layers = None
    if settings.top_layers is not None and n_layers:
        layers = list(range(max(0, n_layers - settings.top_layers), n_layers))
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )
    try:
        peft_model = get_peft_model(model, config)
    except ValueError as exc:
        raise CfAgentError(
            f"cannot put LoRA on {list(settings.target_modules)} of {model_path}: {exc}",
            "pass --target-modules naming the model's linear layers",
        ) from exc
    return peft_model, str(kwargs["dtype"]).removeprefix("torch."), quantized, checkpointing


@torch.no_grad()
def answer_loss(
    model: Any,
    batches: Sequence[Sequence[Encoded]],
    pad_id: int,
    device: str,
    prefix: Sequence[int] = (),
) -> float | None:
    """Mean loss per answer token over all batches (None when there are none)."""
    total, tokens = 0.0, 0
    model.eval()
    for batch in batches:
        loss, answer_tokens, _ = _forward(model, batch, prefix, pad_id, device)
        total += float(loss)
        tokens += answer_tokens
    return total / tokens if tokens else None


def _batches(items: Sequence[Encoded], size: int) -> list[list[Encoded]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def train_lora(
    model_path: str,
    train: Sequence[TrainingExample],
    val: Sequence[TrainingExample],
    settings: LoraSettings,
    out: Path,
    device: str | None = None,
    on_step: StepFn | None = None,
    validity: ValidityFn | None = None,
) -> TrainReport:
    """Train LoRA layers on `train`, report loss on `val` before and after, save to `out`.

    With `validity`, the adapter is measured every `eval_every` steps (and at the end), training
    stops early when it stops improving, and the best measured adapter is the one saved.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    tokenizer = load_tokenizer(model_path)
    pad_id = int(tokenizer.pad_token_id)
    encoded = [encode(tokenizer, e) for e in train]
    fitting = [e for e in encoded if len(e.input_ids) <= settings.max_length]
    if not fitting:
        raise CfAgentError(
            f"all {len(encoded)} training examples exceed {settings.max_length} tokens",
            "raise --max-length",
        )
    val_encoded = [
        e for e in (encode(tokenizer, v) for v in val) if len(e.input_ids) <= settings.max_length
    ]
    prefix = shared_prefix([*fitting, *val_encoded])
    fitting, val_batches = (
        _tails(fitting, prefix),
        _batches(_tails(val_encoded, prefix), settings.batch_size),
    )
    model, dtype, quantized, checkpointing = load_trainable(model_path, settings, device)
    with model.disable_adapter():
        val_before = answer_loss(model, val_batches, pad_id, device, prefix)

    per_epoch = math.ceil(len(fitting) / settings.batch_size)
    total = math.ceil(per_epoch * settings.epochs)
    if settings.max_steps is not None:
        total = min(total, settings.max_steps)
    order: list[Encoded] = []
    while len(order) < total * settings.batch_size:
        epoch = list(fitting)
        random.shuffle(epoch)
        order += epoch
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, int(settings.warmup_share * total), total)
    losses: list[float] = []
    tokens = 0
    tracker = _BestAdapter(model, validity, out, settings.patience)
    started = time.perf_counter()
    model.train()
    for step in range(total):
        batch = order[step * settings.batch_size : (step + 1) * settings.batch_size]
        summed, answer_tokens, processed = _forward(model, batch, prefix, pad_id, device)
        loss = summed / max(answer_tokens, 1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        tokens += processed
        if on_step is not None:
            on_step(step + 1, total, losses[-1])
        if (step + 1) % settings.eval_every == 0 and step + 1 < total:
            if tracker.measure(step + 1):
                break
            model.train()
    seconds = time.perf_counter() - started
    tracker.finish(len(losses))
    val_after = answer_loss(model, val_batches, pad_id, device, prefix)
    model.save_pretrained(str(out))
    return TrainReport(
        steps=len(losses),
        examples_used=len(fitting),
        examples_too_long=len(encoded) - len(fitting),
        train_loss_first=losses[0],
        train_loss_last=sum(losses[-10:]) / len(losses[-10:]),
        val_loss_before=val_before,
        val_loss_after=val_after,
        seconds=seconds,
        seconds_per_step=seconds / len(losses),
        tokens_per_second=tokens / seconds if seconds > 0 else 0.0,
        device=device,
        dtype=dtype,
        quantization="4bit-nf4" if quantized else "none",
        gradient_checkpointing=checkpointing,
        trainable_parameters=sum(p.numel() for p in params),
        shared_prefix_tokens=len(prefix),
        losses=losses,
        validity=tracker.curve,
        best_step=tracker.best_step,
        stopped_early=tracker.stopped_early,
    )


class _BestAdapter:
    """Measures the adapter's held-out validity and keeps the LoRA weights of the best one."""

    def __init__(self, model: Any, validity: ValidityFn | None, out: Path, patience: int) -> None:
        self.model = model
        self.validity = validity
        self.scratch = out / ".measure"
        self.patience = patience
        self.curve: list[tuple[int, float]] = []
        self.best_step: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stopped_early = False

    def measure(self, step: int) -> bool:
        """Score the adapter now; True when patience has run out."""
        if self.validity is None:
            return False
        self.model.eval()
        self.model.save_pretrained(str(self.scratch))
        try:
            score = self.validity(self.scratch)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
        self.curve.append((step, score))
        best = max(s for _, s in self.curve[:-1]) if len(self.curve) > 1 else -1.0
        if score > best:
            self.best_step = step
            self.best_state = {
                k: v.detach().clone() for k, v in self.model.state_dict().items() if "lora_" in k
            }
        since_best = (
            len(self.curve)
            - 1
            - max(i for i, (s_, _) in enumerate(self.curve) if s_ == self.best_step)
        )
        self.stopped_early = since_best >= self.patience
        return self.stopped_early

    def finish(self, step: int) -> None:
        """Measure the final adapter (unless just measured) and restore the best one."""
        if self.validity is None:
            return
        if not self.curve or self.curve[-1][0] != step:
            self.measure(step)
        if self.best_state is not None and self.best_step != step:
            self.model.load_state_dict(self.best_state, strict=False)
