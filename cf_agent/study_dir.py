"""Resumable study directories shared by `cf-agent eval` and `cf-agent augment`.

A study keeps its journals under `journal/` and its per-run files under `runs/`; a small
metadata file holds the fingerprint of the options that shape its results, so a rerun with the
same options resumes or extends it and a rerun with other options is refused, not mixed in.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from cf_agent.errors import OutputError
from cf_agent.fileio import read_state_file, write_text_atomic
from cf_agent.models.baselines import BASELINE_METHODS, UnknownMethodError
from cf_agent.models.registry import MODEL_FORMS, is_model_string
from cf_agent.proposers import Proposer

JOURNAL_DIR = "journal"
RUNS_DIR = "runs"
__all__ = ["check_methods", "method_slug", "prepare_study_dir"]


def method_slug(method: str) -> str:
    """A method string as a file name (`openai:gpt-4o+refine` -> `openai_gpt-4o_refine`)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", method)


def check_methods(methods: Iterable[str], proposers: Mapping[str, Proposer]) -> None:
    """Refuse a method that is neither a given proposer, a baseline nor an LLM model string."""
    for method in methods:
        if not (method in proposers or method in BASELINE_METHODS or is_model_string(method)):
            raise UnknownMethodError(
                f"unknown CF method {method!r}",
                f"use baselines ({', '.join(BASELINE_METHODS)}) or LLMs ({MODEL_FORMS})",
            )


def prepare_study_dir(
    out: Path, meta_name: str, fingerprint: str, *, overwrite: bool, what: str, shaped_by: str
) -> None:
    """Start afresh (overwrite or new dir) or resume; refuse results made with other options.

    `what` names the study ("an evaluation"), `shaped_by` the options its fingerprint covers.
    """
    meta = out / meta_name
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file", f"pass --out DIR, a directory for {what}")
    fix = f"delete {meta} and rerun with --overwrite to start {what} afresh"
    known = read_state_file(meta, fix).get("fingerprint") if meta.exists() else None
    if known is not None and known != fingerprint and not overwrite:
        raise OutputError(
            f"{out} holds {what} made with other options ({shaped_by})",
            "rerun with the same options to resume or extend it, pass --overwrite to replace "
            "it, or choose another --out",
        )
    if overwrite or known != fingerprint:
        for name in (JOURNAL_DIR, RUNS_DIR):
            shutil.rmtree(out / name, ignore_errors=True)
    write_text_atomic(meta, json.dumps({"fingerprint": fingerprint}, indent=2) + "\n")
