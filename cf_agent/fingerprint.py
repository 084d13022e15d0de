"""The one fingerprint of the options that shape results: what a rerun may resume or extend.

`run`, `run --ray`, `eval` and `augment` each choose which of their options count; the data,
the spec and the prompt templates always count.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from cf_agent.data.cohort import Cohort
from cf_agent.prompts.render import load_prompt


def options_fingerprint(
    keyed: dict[str, Any], cohort: Cohort, prompts: Iterable[str | None], **more: Any
) -> str:
    """Hash of the chosen options, `more` (e.g. the classifier), data, spec and prompt files
    (a prompt given as None, i.e. the default one, counts through the templates that are named)."""
    keyed = {
        **keyed,
        **more,
        "data_hash": cohort.data_hash,
        "spec_hash": cohort.spec.spec_hash(),
        "prompts": [load_prompt(prompt).sha256 for prompt in prompts if prompt],
    }
    return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16]
