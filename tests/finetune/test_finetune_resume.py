"""Training resumes from its checkpoint to the same adapter; work from other inputs is refused.

The kill trials of the whole command are tests/reliability/test_finetune_kill_resume.py; these
are the quick in-process checks, on a tiny random model (tiny_model.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from finetune.tiny_model import write_tiny_model
from safetensors.torch import load_file

from cf_agent.errors import OutputError
from cf_agent.finetune.checkpoint import ResumeDir
from cf_agent.finetune.examples import TrainingExample
from cf_agent.finetune.train import LoraSettings, train_lora

pytestmark = pytest.mark.slow
SETTINGS = LoraSettings(rank=4, batch_size=2, epochs=2, eval_every=1, patience=10, seed=3)


class Stop(Exception):
    """Stands in for a kill: raised before the step's checkpoint is written."""


def example(i: int) -> TrainingExample:
    return TrainingExample(
        person_id=f"p{i}",
        split="train",
        round="initial",
        messages=[
            {"role": "system", "content": "You answer with one JSON object."},
            {"role": "user", "content": f'Person: {{"steps": {5000 + 100 * i}}}.'},
        ],
        answer=f'{{"steps":{8000 + 100 * i},"rationale":"More steps."}}',
        provenance={"kind": "test", "method": "fixed"},
    )


def validity(adapter: Path) -> float:
    """A made-up score that peaks early, so the best adapter is not the last one."""
    validity.calls += 1  # type: ignore[attr-defined]
    return [0.2, 0.6, 0.4, 0.3, 0.1, 0.0][validity.calls - 1]  # type: ignore[attr-defined]


def train(base: Path, out: Path, stop_at: int | None = None, **changes: object) -> object:
    def on_step(step: int, total: int, loss: float) -> None:
        if step == stop_at:
            raise Stop

    out.mkdir(parents=True, exist_ok=True)
    checkpoint = ResumeDir(out.parent / "adapter").checkpoint(every=1)
    checkpoint.path.parent.mkdir(parents=True, exist_ok=True)
    settings = SETTINGS.model_copy(update=changes)
    data = [example(i) for i in range(6)]
    return train_lora(
        str(base), data, data[:2], settings, out, "cpu", on_step, validity, checkpoint
    )


def test_training_stopped_mid_way_resumes_to_the_same_adapter(tmp_path: Path) -> None:
    base = write_tiny_model(tmp_path / "tiny")
    validity.calls = 0  # type: ignore[attr-defined]
    whole = train(base, tmp_path / "whole" / "out")
    validity.calls = 0  # type: ignore[attr-defined]
    with pytest.raises(Stop):
        train(base, tmp_path / "cut" / "out", stop_at=4)
    validity.calls = 3  # the three measurements before the stop are in the checkpoint
    resumed = train(base, tmp_path / "cut" / "out")

    weights = [
        load_file(p / "out" / "adapter_model.safetensors")
        for p in (tmp_path / "whole", tmp_path / "cut")
    ]
    assert weights[0].keys() == weights[1].keys()
    assert all(weights[0][k].equal(weights[1][k]) for k in weights[0])
    fields = ("steps", "losses", "validity", "best_step", "val_loss_before", "val_loss_after")
    assert [getattr(resumed, f) for f in fields] == [getattr(whole, f) for f in fields]
    assert whole.best_step == 2  # type: ignore[attr-defined]


def test_a_checkpoint_of_other_settings_is_refused(tmp_path: Path) -> None:
    base = write_tiny_model(tmp_path / "tiny")
    validity.calls = 0  # type: ignore[attr-defined]
    with pytest.raises(Stop):
        train(base, tmp_path / "run" / "out", stop_at=2)

    with pytest.raises(OutputError, match="other training examples, base model or settings"):
        train(base, tmp_path / "run" / "out", learning_rate=SETTINGS.learning_rate * 2)


def test_work_from_other_inputs_is_refused_unless_overwrite(tmp_path: Path) -> None:
    work = ResumeDir(tmp_path / "adapter")
    work.open("first", overwrite=False)
    (work.path / "candidates.json").write_text("[]\n")

    with pytest.raises(OutputError, match="unfinished fine-tuning") as error:
        work.open("second", overwrite=False)
    assert "rerun that command to resume it" in error.value.fix
    work.open("first", overwrite=False)  # the same inputs: resumed, kept
    assert (work.path / "candidates.json").exists()
    work.open("second", overwrite=True)  # started afresh
    assert not (work.path / "candidates.json").exists()
