"""Payloads made JSON-safe and scrubbed of secrets before they are hashed and stored."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date
from pathlib import PurePath
from typing import Any

import numpy as np
from pydantic import BaseModel

REDACTED = "***"

_SECRET_KEY = re.compile(r"api[-_]?key|authorization|passw(or)?d|secret|token$", re.IGNORECASE)
_SECRET_SHAPE = re.compile(
    r"\bsk-[A-Za-z0-9_-]{16,}|\b[Bb]earer\s+[A-Za-z0-9._~+/=-]+|\bhf_[A-Za-z0-9]{20,}"
)


class SecretScrubber:
    """Replace secrets in JSON values: secret-named keys, key-shaped strings, registered values."""

    def __init__(self) -> None:
        self.secrets_: list[str] = []

    def register(self, value: str) -> None:
        """Redact `value` wherever it appears in a stored string from now on."""
        if not value:
            raise ValueError("cannot register an empty secret: it would match every string")
        if value not in self.secrets_:
            self.secrets_.append(value)
            self.secrets_.sort(key=len, reverse=True)

    def scrub_text(self, text: str) -> str:
        for value in self.secrets_:
            text = text.replace(value, REDACTED)
        return _SECRET_SHAPE.sub(REDACTED, text)

    def scrub(self, value: Any) -> Any:
        """Scrub a JSON value (as made by `to_json_value`) recursively."""
        if isinstance(value, dict):
            return {
                key: REDACTED if _SECRET_KEY.search(key) else self.scrub(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        if isinstance(value, str):
            return self.scrub_text(value)
        return value


def to_json_value(value: Any) -> Any:
    """Plain JSON types from common Python/numpy values; NaN and infinities become None."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic | np.ndarray):
        return to_json_value(value.tolist())
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return to_json_value(value.model_dump(mode="json"))
    raise TypeError(
        f"cannot store a {type(value).__name__} in an audit payload; "
        "convert it to a str, number, bool, list or dict first"
    )
