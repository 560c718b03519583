"""The frozen base model and the field types every configuration model shares.

:mod:`medallion.config` (the environment file and the pipeline file) and :mod:`medallion.config.gold`
(``gold:`` entries and ``checks:`` lists) build on these; they live apart from both so that
:mod:`medallion.config` can import :mod:`medallion.config.gold` without an import cycle.

Example:
    >>> class Sink(ConfigModel):
    ...     table: Identifier
    ...     filter: SqlText | None = None
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

__all__ = ["ConfigModel", "Identifier", "SqlText", "fingerprint"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _identifier(value: str) -> str:
    if not _IDENTIFIER.fullmatch(value):  # fullmatch: `$` would let "orders\n" through
        raise ValueError(
            f"{value!r} is not a valid name: use letters, digits and underscores, not starting with a digit"
        )
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
SqlText = Annotated[str, AfterValidator(_non_blank)]


def fingerprint(definition: Any) -> str:
    """A short stable hash of a JSON-able definition (a model's ``model_dump(mode="json")``): what a
    recorded build or replay depended on, compared on the next run."""
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]


class ConfigModel(BaseModel):
    """Base of every configuration model: unknown keys are refused and instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
