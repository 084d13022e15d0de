"""Examples as token batches: the chat-format prompt, loss only on the answer's tokens, and the
prompt prefix all examples share, computed once per batch (its key/value cache reused).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from pydantic import BaseModel
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from cf_agent.finetune.examples import TrainingExample
from cf_agent.models.llm.embedded import LocalModelError

IGNORE_INDEX = -100


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


def tails(items: Sequence[Encoded], prefix: Sequence[int]) -> list[Encoded]:
    n = len(prefix)
    return [Encoded(input_ids=e.input_ids[n:], labels=e.labels[n:]) for e in items]


def forward(
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
        loss, answer_tokens, _ = forward(model, batch, prefix, pad_id, device)
        total += float(loss)
        tokens += answer_tokens
    return total / tokens if tokens else None


def batches(items: Sequence[Encoded], size: int) -> list[list[Encoded]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
