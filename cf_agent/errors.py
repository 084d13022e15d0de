"""Errors users can act on: each names the problem, the fix, and a distinct exit code."""

from __future__ import annotations


class CfAgentError(Exception):
    """Base error; the CLI prints `message` and `fix` and exits with `exit_code`."""

    exit_code = 1

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message


class SpecError(CfAgentError):
    """The feature spec file is missing, malformed or inconsistent."""

    exit_code = 3


class DataError(CfAgentError):
    """The data file is missing, malformed or violates the spec."""

    exit_code = 4


class ModelFileError(CfAgentError):
    """A saved classifier bundle is missing, corrupt or built for another spec."""

    exit_code = 5


class OutputError(CfAgentError):
    """An output path cannot be written."""

    exit_code = 6
