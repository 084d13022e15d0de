"""Typer options made from pydantic options models, so a command's flags, help texts, defaults
and limits are declared once (in the model) and validated once (by pydantic)."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import typer
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo

from cf_agent.errors import CfAgentError

M = TypeVar("M", bound=BaseModel)


class BadOptionError(CfAgentError):
    """An option's value breaks its model's limits."""

    exit_code = 2


def _cli_extra(field: FieldInfo) -> dict[str, str]:
    """A field's CLI-only settings: "flag" (when not --field-name) and "envvar"."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return {key: str(extra[key]) for key in ("flag", "envvar") if key in extra}


def _flag(name: str, field: FieldInfo) -> str:
    return _cli_extra(field).get("flag", "--" + name.replace("_", "-"))


def _cli_type(annotation: Any) -> Any:
    """The type Typer parses; a secret arrives as text and pydantic wraps it."""
    args = get_args(annotation)
    if get_origin(annotation) in (Union, types.UnionType) and SecretStr in args:
        return str | None
    return annotation


def _parameter(name: str, field: FieldInfo) -> inspect.Parameter:
    extra = _cli_extra(field)
    decls = [extra["flag"]] if "flag" in extra else []
    option = typer.Option(*decls, help=field.description, envvar=extra.get("envvar"))
    default = inspect.Parameter.empty if field.is_required() else field.get_default()
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[_cli_type(field.annotation), option],
    )


def parse_options(model: type[M], values: dict[str, Any]) -> M:
    """The model from the flags' values; a broken limit names its flag (exit code 2)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        field = model.model_fields.get(name)
        flag = _flag(name, field) if field is not None else name
        fix = "see --help for the allowed values"
        raise BadOptionError(f"{flag}: {error['msg']}", fix) from None


def command_options(*models: type[BaseModel]) -> Callable[[Callable[..., None]], Any]:
    """A Typer command whose flags are the models' fields; the function gets one model each."""

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        def command(**values: Any) -> None:
            func(
                *(
                    parse_options(m, {k: values[k] for k in m.model_fields if k in values})
                    for m in models
                )
            )

        parameters = [_parameter(n, f) for m in models for n, f in m.model_fields.items()]
        parameters.sort(key=lambda p: p.default is not inspect.Parameter.empty)
        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__name__, command.__doc__ = func.__name__, func.__doc__
        return command

    return decorate
