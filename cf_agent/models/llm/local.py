"""`embedded` and `hf:` backends: a transformers causal LM on this machine, batched.

Rows are left-padded (a decoder-only model continues from the right edge). A JSON schema, when
given, is enforced token by token (constrained.py), so even an untrained model answers in
schema-valid JSON. Only local files are read: a hub id must already be in the HF cache.

Prompts of one run share most of their text (instructions, feature rules); the key/value
cache of that shared prefix is computed once and reused, so each conversation pays only for
its own tail: the layout is [shared prefix][padding][own tokens], which rotary positions
(taken from the attention mask) see as one contiguous sequence.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    GenerationConfig,
    GenerationMixin,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from cf_agent.models.adapter_files import EMBEDDED_ADAPTER_DIR, verify_adapter
from cf_agent.models.llm.base import Generation, Schemas, schema_per_conversation
from cf_agent.models.llm.constrained import JsonSchemaConstraint
from cf_agent.models.llm.embedded import LocalModelError, embedded_model_dir
from cf_agent.proposers import ChatMessage

EMBEDDED_MODEL_STRING = "embedded"
EMBEDDED_BASE_MODEL_STRING = "embedded-base"
MIN_SHARED_PREFIX = 32  # tokens; shorter common prefixes are not worth a cache entry
PREFIX_CACHE_ENTRIES = 4  # e.g. the first-round and the revise templates' prefixes
# cf-agent shows its own progress; transformers' per-load bars would bury it.
hf_logging.disable_progress_bar()


def _local_source(model_path: str | Path) -> str:
    """A path-like model_path must be an existing folder; anything else is a cached hub id."""
    path = Path(model_path).expanduser()
    if path.is_dir():
        return str(path)
    if path.is_absolute() or str(model_path).startswith((".", "~")):
        raise LocalModelError(
            f"model folder not found: {path}",
            "pass the folder that holds config.json, or a hub id already in the HF cache",
        )
    return str(model_path)


def _check_adapter(adapter_path: str | Path | None) -> Path | None:
    """Fail before the (slow) model load when the adapter folder is wrong."""
    if adapter_path is None:
        return None
    adapter = Path(adapter_path).expanduser()
    if not (adapter / "adapter_config.json").is_file():
        raise LocalModelError(
            f"PEFT adapter not found: {adapter} has no adapter_config.json",
            "pass the adapter folder written by fine-tuning, or drop the @<adapter> part",
        )
    verify_adapter(adapter)  # truncated, altered or half-copied files: refused, named
    return adapter


def _load_tokenizer(model_path: str) -> PreTrainedTokenizerBase:
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise LocalModelError(
            f"cannot load a model from {model_path}: {exc}",
            "pass a local model folder, or download the model into the HF cache first "
            f"(hf download {model_path}); cf-agent never downloads models",
        ) from exc
    if not tokenizer.chat_template:
        raise LocalModelError(
            f"the tokenizer of {model_path} has no chat template",
            "use an instruction-tuned (chat) model",
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def _load_model(model_path: str, adapter: Path | None, device: str) -> PreTrainedModel:
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise LocalModelError(
            f"cannot load a causal language model from {model_path}: {exc}",
            "pass the folder of a transformers causal LM (config.json + weights)",
        ) from exc
    if adapter is not None:
        from peft import PeftModel

        try:  # merged weights decode as fast as the base model
            model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        except (OSError, ValueError, RuntimeError) as exc:
            raise LocalModelError(
                f"cannot apply the PEFT adapter {adapter} to {model_path}: {exc}",
                "use an adapter trained on this base model",
            ) from exc
    # transformers types `to` through functools.wraps, which mypy misreads as unbound.
    return model.to(device).eval()  # type: ignore[arg-type]


def _eos_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    configured = model.generation_config.eos_token_id
    ids = list(configured) if isinstance(configured, list) else [configured]
    ids.append(tokenizer.eos_token_id)
    return sorted({int(i) for i in ids if i is not None})


class TransformersBackend:
    """ChatBackend over a local transformers model (CUDA bf16 when available, else CPU fp32)."""

    def __init__(
        self,
        model_string: str,
        model_path: str | Path,
        adapter_path: str | Path | None = None,
        device: str | None = None,
        batch_size: int = 8,
        temperature: float = 0.0,
        seed: int = 0,
        reuse_prefix: bool = True,
    ) -> None:
        if batch_size < 1 or temperature < 0:
            raise LocalModelError(
                f"invalid settings: batch_size={batch_size}, temperature={temperature}",
                "use batch_size >= 1 and temperature >= 0 (0 = greedy)",
            )
        self.model_string = model_string
        self.model_path = model_path
        self.adapter_path = adapter_path
        self.device = device
        self.batch_size = batch_size
        self.temperature = temperature
        self.seed = seed
        self.reuse_prefix = reuse_prefix
        self.prefix_caches_: dict[tuple[int, ...], DynamicCache] = {}
        self.device_ = device or ("cuda" if torch.cuda.is_available() else "cpu")
        source = _local_source(model_path)
        adapter = _check_adapter(adapter_path)
        self.tokenizer_ = _load_tokenizer(source)
        self.model_ = _load_model(source, adapter, self.device_)
        self.eos_token_ids_ = _eos_token_ids(self.model_, self.tokenizer_)
        self.constraint_ = JsonSchemaConstraint(self.tokenizer_, self.eos_token_ids_)

    @property
    def parallel_queries(self) -> int:
        """How many queries the agent should run at once: one padded batch's worth."""
        return self.batch_size

    @classmethod
    def embedded(cls, adapted: bool = True, **kwargs: Any) -> TransformersBackend:
        """The embedded SmolLM2-135M-Instruct (converted from its GGUF on first use) with the
        shipped LoRA adapter merged in; adapted=False gives the raw model (`embedded-base`)."""
        if not adapted:
            return cls(
                model_string=EMBEDDED_BASE_MODEL_STRING, model_path=embedded_model_dir(), **kwargs
            )
        if not (EMBEDDED_ADAPTER_DIR / "adapter_config.json").is_file():
            raise LocalModelError(
                f"the embedded model's adapter is missing from the package: {EMBEDDED_ADAPTER_DIR}",
                "reinstall cf-agent, or use --model embedded-base for the model without it",
            )
        return cls(
            model_string=EMBEDDED_MODEL_STRING,
            model_path=embedded_model_dir(),
            adapter_path=EMBEDDED_ADAPTER_DIR,
            **kwargs,
        )

    def generate(
        self,
        conversations: Sequence[Sequence[ChatMessage]],
        json_schema: Schemas = None,
        max_new_tokens: int = 256,
    ) -> list[Generation]:
        schemas = schema_per_conversation(json_schema, len(conversations))
        grammars = [None if js is None else self.constraint_.grammar(js) for js in schemas]
        results: list[Generation | None] = [None] * len(conversations)
        prompts: list[tuple[int, list[int]]] = []
        for index, conversation in enumerate(conversations):
            try:
                prompts.append((index, self._prompt_ids(conversation, max_new_tokens)))
            except Exception as exc:
                results[index] = Generation(
                    text="", error=f"unusable conversation: {type(exc).__name__}: {exc}"
                )
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start : start + self.batch_size]
            generations = self._generate_isolated(
                [ids for _, ids in chunk], [grammars[i] for i, _ in chunk], max_new_tokens
            )
            for (index, _), generation in zip(chunk, generations, strict=True):
                results[index] = generation
        return [g for g in results if g is not None]

    def _prompt_ids(self, conversation: Sequence[ChatMessage], max_new_tokens: int) -> list[int]:
        text = self.tokenizer_.apply_chat_template(
            [{"role": m["role"], "content": m["content"]} for m in conversation],
            tokenize=False,
            add_generation_prompt=True,
        )
        ids: list[int] = self.tokenizer_(text, add_special_tokens=False)["input_ids"]
        context = getattr(self.model_.config, "max_position_embeddings", None)
        if context is not None and len(ids) + max_new_tokens > context:
            raise ValueError(
                f"prompt of {len(ids)} tokens + {max_new_tokens} new tokens exceeds "
                f"the model's context of {context}"
            )
        return ids

    def _generate_isolated(
        self, prompts: list[list[int]], grammars: list[str | None], max_new_tokens: int
    ) -> list[Generation]:
        """One batch; if it fails, each row alone, so one bad row cannot sink the others."""
        try:
            return self._generate_batch(prompts, grammars, max_new_tokens)
        except Exception as exc:
            if len(prompts) > 1:
                return [
                    g
                    for p, grammar in zip(prompts, grammars, strict=True)
                    for g in self._generate_isolated([p], [grammar], max_new_tokens)
                ]
            return [Generation(text="", error=f"generation failed: {type(exc).__name__}: {exc}")]

    def _generation_config(self, max_new_tokens: int) -> GenerationConfig:
        config = copy.deepcopy(self.model_.generation_config)
        config.max_new_tokens = max_new_tokens
        config.pad_token_id = self.tokenizer_.pad_token_id
        config.eos_token_id = self.eos_token_ids_
        config.do_sample = self.temperature > 0
        if config.do_sample:
            config.temperature = self.temperature
        else:  # greedy: unset the model's sampling defaults so transformers does not warn
            config.temperature = config.top_p = config.top_k = None
        return config

    def _shared_prefix(self, prompts: list[list[int]]) -> tuple[int, ...]:
        """A cached prefix every prompt starts with, else the batch's common prefix, else ()."""
        if not self.reuse_prefix:
            return ()
        for key in sorted(self.prefix_caches_, key=len, reverse=True):
            if all(len(p) > len(key) and tuple(p[: len(key)]) == key for p in prompts):
                return key
        if len(prompts) < 2:
            return ()
        length = min(len(p) for p in prompts) - 1  # each row keeps one token of its own
        first = prompts[0]
        for other in prompts[1:]:
            length = next((i for i in range(length) if other[i] != first[i]), length)
        return tuple(first[:length]) if length >= MIN_SHARED_PREFIX else ()

    def _prefix_cache(self, prefix: tuple[int, ...], rows: int) -> DynamicCache:
        """A fresh copy of the prefix's key/value cache, repeated for `rows` rows."""
        if prefix not in self.prefix_caches_:
            if len(self.prefix_caches_) >= PREFIX_CACHE_ENTRIES:
                del self.prefix_caches_[next(iter(self.prefix_caches_))]
            ids = torch.tensor([prefix], device=self.device_)
            with torch.inference_mode():
                out = self.model_(input_ids=ids, use_cache=True)
            self.prefix_caches_[prefix] = out.cache
        cache = copy.deepcopy(self.prefix_caches_[prefix])
        cache.batch_repeat_interleave(rows)
        return cache

    def _inputs(self, prompts: list[list[int]]) -> tuple[dict[str, Any], int]:
        """Model inputs for a batch (with the shared prefix's cache when there is one)."""
        prefix = self._shared_prefix(prompts)
        batch = self.tokenizer_.pad(
            {"input_ids": [p[len(prefix) :] for p in prompts]}, padding=True, return_tensors="pt"
        )
        input_ids, mask = batch["input_ids"], batch["attention_mask"]
        inputs: dict[str, Any] = {}
        if prefix:
            head = torch.tensor([prefix]).expand(len(prompts), -1)
            input_ids = torch.cat([head, input_ids], dim=1)
            mask = torch.cat([torch.ones_like(head), mask], dim=1)
            inputs["cache"] = self._prefix_cache(prefix, len(prompts))
        inputs["input_ids"] = input_ids.to(self.device_)
        inputs["attention_mask"] = mask.to(self.device_)
        return inputs, input_ids.shape[1]

    def _generate_batch(
        self, prompts: list[list[int]], grammars: list[str | None], max_new_tokens: int
    ) -> list[Generation]:
        constrained = any(g is not None for g in grammars)
        processor = self.constraint_.logits_processor(grammars) if constrained else None
        cuda_devices = (
            [torch.device(self.device_).index or 0] if self.device_.startswith("cuda") else []
        )
        started = time.perf_counter()
        with torch.inference_mode(), torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(self.seed)
            inputs, prompt_width = self._inputs(prompts)
            output = cast(GenerationMixin, self.model_).generate(
                **inputs,
                generation_config=self._generation_config(max_new_tokens),
                logits_processor=LogitsProcessorList([processor] if processor else []),
            )
        latency = (time.perf_counter() - started) / len(prompts)
        generations = []
        for row, new_tokens in enumerate(output[:, prompt_width:].tolist()):
            ends = [i for i, token in enumerate(new_tokens) if token in self.eos_token_ids_]
            n_out = ends[0] + 1 if ends else len(new_tokens)
            generations.append(
                Generation(
                    text=self.tokenizer_.decode(new_tokens[:n_out], skip_special_tokens=True),
                    tokens_in=len(prompts[row]),
                    tokens_out=n_out,
                    latency_s=latency,
                    error=processor.problem(row) if processor else None,
                )
            )
        return generations
