"""The package's one exception hierarchy.

Every error a user can cause derives from :class:`MedallionError`; the CLI maps them to exit codes:
``ConfigError`` -> 2 (bad usage or configuration, reported before any write), everything else -> 1.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "MedallionError",
    "ConfigError",
    "RunError",
    "ExpectationFailed",
    "SourceError",
]


class MedallionError(Exception):
    """Base class of every error raised by medallion.

    ``partial`` is what a layer had counted when it failed (a :class:`medallion.audit.outcome.LayerOutcome`,
    or None): the runner records it with the failure.
    """

    exit_code: int = 1
    partial: Any = None


class ConfigError(MedallionError):
    """A configuration file is invalid. The message names the file, the key and what is wrong."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        prefix = ""
        if file:
            prefix += f"{file}: "
        if key:
            prefix += f"{key}: "
        super().__init__(prefix + message)


class RunError(MedallionError):
    """A layer run failed; nothing after the failing step was committed."""


class ExpectationFailed(RunError):
    """A ``fail`` expectation (or the quarantine threshold) was violated; the layer wrote nothing."""

    def __init__(self, message: str, *, rules: dict[str, int] | None = None) -> None:
        self.rules = dict(rules or {})
        super().__init__(message)


class SourceError(RunError):
    """The landing source could not be listed or read."""
