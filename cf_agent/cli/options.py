"""Typer options made from pydantic options models, so a command's flags, help texts, defaults
and limits are declared once (in the model) and validated once (by pydantic).

A field is the flag --field-name unless its `json_schema_extra` says otherwise:
- "flag": the flag's own name (e.g. model_dir is --classifier);
- "envvar": an environment variable that gives the value when the flag is absent;
- "cli": "argv": not a flag; the command line itself, quoted, with secrets masked.
A tuple field is one comma-separated flag. A field whose type is itself a model (FinetuneOptions'
lora) is not a flag: its fields are, except those the outer model already has (the outer model
decides what they give the inner one).
"""

from __future__ import annotations

import inspect
import shlex
import sys
import types
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import typer
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo

from cf_agent.errors import CfAgentError

M = TypeVar("M", bound=BaseModel)

MASK = "***"


class BadOptionError(CfAgentError):
    """An option's value breaks its model's limits."""

    exit_code = 2


def _cli_extra(field: FieldInfo) -> dict[str, str]:
    """A field's CLI-only settings: "flag" (when not --field-name), "envvar" and "cli"."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return {key: str(extra[key]) for key in ("flag", "envvar", "cli") if key in extra}


def _flag(name: str, field: FieldInfo) -> str:
    return _cli_extra(field).get("flag", "--" + name.replace("_", "-"))


def _is_argv(field: FieldInfo) -> bool:
    return _cli_extra(field).get("cli") == "argv"


def _nested(field: FieldInfo) -> type[BaseModel] | None:
    """The model a field holds (its fields become flags), or None for a plain field."""
    kind = field.annotation
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) is tuple


def _cli_type(annotation: Any) -> Any:
    """The type Typer parses: a secret arrives as text and pydantic wraps it; a tuple arrives as
    comma-separated text."""
    args = get_args(annotation)
    if get_origin(annotation) in (Union, types.UnionType) and SecretStr in args:
        return str | None
    if _is_list(annotation):
        return str
    return annotation


def _cli_default(field: FieldInfo) -> Any:
    if field.is_required():
        return inspect.Parameter.empty
    default = field.get_default(call_default_factory=True)
    return ",".join(map(str, default)) if _is_list(field.annotation) else default


def _parameter(name: str, field: FieldInfo) -> inspect.Parameter:
    extra = _cli_extra(field)
    decls = [extra["flag"]] if "flag" in extra else []
    option = typer.Option(*decls, help=field.description, envvar=extra.get("envvar"))
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=_cli_default(field),
        annotation=Annotated[_cli_type(field.annotation), option],
    )


def cli_fields(model: type[BaseModel]) -> Iterator[tuple[str, FieldInfo]]:
    """(name, field) for each flag a model gives a command, nested models' fields included."""
    for name, field in model.model_fields.items():
        inner = _nested(field)
        if inner is not None:
            yield from ((n, f) for n, f in cli_fields(inner) if n not in model.model_fields)
        elif not _is_argv(field):
            yield name, field


def command_line(values: dict[str, Any], model: type[BaseModel]) -> str:
    """This process's command line, quoted, with the values of the model's secrets masked."""
    line = shlex.join(["cf-agent", *sys.argv[1:]])
    for name, field in cli_fields(model):
        secret = values.get(name)
        if SecretStr in get_args(field.annotation) and secret:
            line = line.replace(str(secret), MASK)
    return line


def _values(model: type[BaseModel], flags: dict[str, Any]) -> dict[str, Any]:
    """The model's input from the flags' values: lists split, nested models filled, argv added."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        inner = _nested(field)
        if inner is not None:
            own = {n: flags[n] for n, _ in cli_fields(inner) if n in flags}
            own = {n: v for n, v in own.items() if n not in model.model_fields}
            values[name] = _values(inner, own)
        elif _is_argv(field):
            values[name] = command_line(flags, model)
        elif name in flags:
            value = flags[name]
            if _is_list(field.annotation) and isinstance(value, str):
                value = tuple(part.strip() for part in value.split(",") if part.strip())
            values[name] = value
    return values


def _error_flag(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """The flag behind an error's location: ("lora", "rank", ...) is --rank."""
    fields = model.model_fields
    for index, part in enumerate(loc):
        field = fields.get(str(part))
        if field is None:
            return str(part)
        inner = _nested(field)
        if inner is None or index == len(loc) - 1:
            return _flag(str(part), field)
        fields = inner.model_fields
    return ""


def parse_options(model: type[M], values: dict[str, Any]) -> M:
    """The model from the flags' values; a broken limit names its flag (exit code 2)."""
    try:
        return model.model_validate(_values(model, values))
    except ValidationError as exc:
        error = exc.errors()[0]
        flag = _error_flag(model, tuple(error["loc"]))
        fix = "see --help for the allowed values"
        raise BadOptionError(f"{flag}: {error['msg']}", fix) from None


def command_options(*models: type[BaseModel]) -> Callable[[Callable[..., None]], Any]:
    """A Typer command whose flags are the models' fields; the function gets one model each."""

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        def command(**values: Any) -> None:
            func(*(parse_options(m, values) for m in models))

        parameters = [_parameter(n, f) for m in models for n, f in cli_fields(m)]
        names = [p.name for p in parameters]
        if len(set(names)) != len(names):
            raise TypeError(f"{func.__name__}: two options models share a field name")
        parameters.sort(key=lambda p: p.default is not inspect.Parameter.empty)
        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__name__, command.__doc__ = func.__name__, func.__doc__
        return command

    return decorate
