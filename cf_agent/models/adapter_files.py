"""Check a LoRA adapter folder before a model loads it: whole files, the ones its card names.

Fine-tuning writes the adapter's weights and config, then its card.json, and `stamp_card` adds
the SHA-256 of both files to the card. `verify_adapter` refuses, naming the file and the fix:
a config that is not a JSON object, weights whose safetensors header or length is wrong (a
truncated or half-copied file), and a weights or config file whose hash differs from the card's
(altered, or copied from another adapter). A folder without a card, or with a card from before
the hashes were recorded, gets the structural checks only. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

from cf_agent.fileio import write_text_atomic
from cf_agent.models.llm.embedded import LocalModelError

# LoRA adapter shipped in the package: the embedded model fine-tuned on verified CFs
# (`cf-agent finetune`, see docs/finetune.md); `embedded-base` is the model without it.
EMBEDDED_ADAPTER_DIR = Path(__file__).resolve().parent / "adapters" / "embedded"
WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"
CARD_FILE = "card.json"
HASHED_FILES = (WEIGHTS_FILE, CONFIG_FILE)
CARD_KEY = "adapter_files"
MAX_HEADER_BYTES = 100_000_000  # the safetensors format's own limit
_FIX = (
    "copy the whole adapter folder again from where it was made, or fine-tune it again "
    "(cf-agent finetune)"
)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def adapter_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of the weights and config files, as the card records them."""
    return {name: file_sha256(folder / name) for name in HASHED_FILES}


def stamp_card(folder: Path) -> None:
    """Add the weights' and config's hashes to the folder's card.json (rewritten atomically)."""
    card = _read_json(folder / CARD_FILE)
    card[CARD_KEY] = adapter_hashes(folder)
    write_text_atomic(folder / CARD_FILE, json.dumps(card, indent=2, ensure_ascii=False) + "\n")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LocalModelError(f"adapter file {path} cannot be read as JSON: {exc}", _FIX) from None
    if not isinstance(data, dict):
        raise LocalModelError(f"adapter file {path} is not a JSON object", _FIX)
    return data


def check_safetensors(path: Path) -> None:
    """Refuse a safetensors file whose header is unreadable or whose length is not the header's.

    The format is an 8-byte little-endian header length, a JSON header giving each tensor's
    byte range in the data that follows, then the data, which the ranges cover exactly.
    """
    if not path.is_file():
        raise LocalModelError(f"adapter weights missing: {path}", _FIX)
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise LocalModelError(f"adapter weights {path} are truncated ({size} bytes)", _FIX)
        (header_len,) = struct.unpack("<Q", head)
        if header_len > min(MAX_HEADER_BYTES, size - 8):
            raise LocalModelError(
                f"adapter weights {path} are truncated or not a safetensors file "
                f"(header of {header_len} bytes in a {size}-byte file)",
                _FIX,
            )
        raw = handle.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
        ends = [
            int(entry["data_offsets"][1])
            for name, entry in header.items()
            if name != "__metadata__"
        ]
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
        raise LocalModelError(
            f"adapter weights {path} have a damaged safetensors header ({exc})", _FIX
        ) from None
    expected = 8 + header_len + max(ends, default=0)
    if size != expected:
        state = "truncated" if size < expected else "longer than their header says"
        raise LocalModelError(
            f"adapter weights {path} are {state} ({size} bytes, the header needs {expected})",
            _FIX,
        )


def verify_adapter(folder: Path) -> None:
    """Refuse a damaged adapter folder before the (slow) model load; see the module doc."""
    config = _read_json(folder / CONFIG_FILE)
    if "peft_type" not in config:
        raise LocalModelError(f"{folder / CONFIG_FILE} is not a PEFT adapter config", _FIX)
    check_safetensors(folder / WEIGHTS_FILE)
    if not (folder / CARD_FILE).is_file():
        return
    recorded = _read_json(folder / CARD_FILE).get(CARD_KEY)
    if not isinstance(recorded, dict):
        return  # a card from before hashes were recorded: the structural checks are all we have
    for name in HASHED_FILES:
        if recorded.get(name) != file_sha256(folder / name):
            raise LocalModelError(
                f"{folder / name} does not match the hash in {folder / CARD_FILE} "
                "(changed since fine-tuning, or copied from another adapter)",
                _FIX,
            )
