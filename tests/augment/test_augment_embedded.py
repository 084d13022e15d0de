"""The agent arm with the real embedded model (SmolLM2-135M): a few CFs, one LLM round, then
the search (`embedded+refine`), so every row is labelled by who wrote it.

`embedded-base` (the model without the fine-tuned adapter) is passed as a ready proposer, so
the test does not depend on which model strings `cf-agent eval` recognises.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from augment.augment_fixture import demo_study

from cf_agent.augment import run_study
from cf_agent.augment.generate import augmentation_spec
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.models.registry import load_backend
from cf_agent.prompts.render import load_prompt


@pytest.mark.slow
def test_embedded_arm_adds_verified_rows(tmp_path: Path) -> None:
    demo = demo_study(tmp_path / "data")
    backend = load_backend("embedded-base", batch_size=2)
    cf_spec = augmentation_spec(demo.spec, 1)
    proposer = LLMProposer(backend, cf_spec, load_prompt("zero_shot"), load_prompt("revise"))
    options = demo.options(
        tmp_path / "study",
        keep=(0.5,),
        seeds=1,
        methods=("embedded+refine",),
        rows=(2,),
        max_rounds=1,
    )
    outcome = run_study(options, proposers={"embedded+refine": proposer})
    runs = tmp_path / "study" / "runs" / "keep50-seed0-from0"
    records = (runs / "embedded_refine.jsonl").read_text()
    assert len(records.splitlines()) == 2
    generated = pd.read_csv(outcome.files.generated_csv)
    assert len(generated) > 0 and set(generated["method"]) <= {"embedded+refine"}
    assert set(generated["source"]) <= {backend.model_string, "refine", "search"}
    assert generated["used"].all()  # the agent accepts only CFs that pass all three checks
    cf_unit = pd.read_csv(outcome.files.results_csv).query("arm == 'cf:embedded+refine'")
    assert cf_unit["rows_added"].tolist() == [len(generated)]  # every CF verified
