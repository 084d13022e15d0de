"""Each command's flags come from its options model: every field is a flag with the model's
default, and a value past a model's limit is refused with exit code 2, naming the flag."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import typer
from pydantic import BaseModel

from cf_agent.agent.options import FanoutSettings, RunOptions
from cf_agent.augment.options import AugmentOptions
from cf_agent.cli import app, main
from cf_agent.eval.options import EvalOptions
from cf_agent.finetune.options import FinetuneOptions

COMMANDS: dict[str, tuple[type[BaseModel], ...]] = {
    "run": (RunOptions, FanoutSettings),
    "eval": (EvalOptions,),
    "augment": (AugmentOptions,),
    "finetune": (FinetuneOptions,),
}
FILES = ["--data", "d.csv", "--spec", "s.toml", "--out", "out"]


def expected_flags(model: type[BaseModel], outer: frozenset[str] = frozenset()) -> dict[str, Any]:
    """--flag -> default (None: required), read from the model's fields."""
    flags: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if name in outer or extra.get("cli") == "argv":
            continue
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            flags |= expected_flags(kind, frozenset(model.model_fields))
            continue
        default = None if field.is_required() else field.get_default()
        if isinstance(default, tuple):
            default = ",".join(map(str, default))
        flags[str(extra.get("flag", "--" + name.replace("_", "-")))] = default
    return flags


def command_flags(command: str) -> dict[str, Any]:
    params = typer.main.get_command(app).commands[command].params  # type: ignore[attr-defined]
    return {p.opts[0]: p.default for p in params if p.param_type_name == "option"}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_field_is_a_flag_with_the_models_default(command: str) -> None:
    expected: dict[str, Any] = {}
    for model in COMMANDS[command]:
        expected |= expected_flags(model)
    shown = command_flags(command)
    assert set(expected) <= set(shown), set(expected) - set(shown)
    assert {flag: shown[flag] for flag in expected} == expected


def test_nested_settings_are_flags_and_the_seed_is_shared() -> None:
    flags = command_flags("finetune")
    assert {"--rank", "--epochs", "--target-modules", "--classifier", "--time-limit"} <= set(flags)
    options = FinetuneOptions(data="d", spec="s", model_dir="m", out="o", seed=7)
    assert options.lora.seed == 7


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["eval", *FILES, "--classifier", "m", "--margin", "1.0"], "--margin"),
        (["eval", *FILES, "--classifier", "m", "--time-limit", "0"], "--time-limit"),
        (["augment", *FILES, "--keep", "0.5,1.5"], "--keep"),
        (["augment", *FILES, "--rows", "0"], "--rows"),
        (["finetune", *FILES, "--classifier", "m", "--rank", "0"], "--rank"),
        (["finetune", *FILES, "--classifier", "m", "--val-share", "1"], "--val-share"),
        (["finetune", *FILES, "--classifier", "m", "--quantization", "8bit"], "--quantization"),
    ],
)
def test_a_value_past_a_limit_exits_2_naming_the_flag(
    argv: list[str], flag: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["cf-agent", *argv])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    assert flag in capsys.readouterr().err
