"""Typed configuration of a pipeline file's ``gold:`` entries and of its ``checks:`` lists.

:class:`GoldTable` is one ``gold:`` entry (declarative or a ``sql`` SELECT). :class:`TableCheck` is one
declared table check; :data:`TableChecks` (names unique) is the type of ``checks:`` under ``silver:`` and
under each gold table. :class:`~medallion.config.PipelineConfig` holds both; loading and error reporting
stay in :mod:`medallion.config`. Nothing here starts a JVM.

Example:
    >>> GoldTable(table="daily_revenue", group_by=["day"], measures={"revenue": "sum(amount)"})
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from medallion.config.base import ConfigModel, Identifier, SqlText

__all__ = ["GoldTable", "TableCheck", "TableChecks", "Freshness"]

# --------------------------------------------------------------------------- checks


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"{value!r} is not a duration: write a number and a unit s, m, h or d (e.g. '26h')")
    return value.strip()


class Freshness(ConfigModel):
    """The newest ``column`` value must be at most ``max_age`` old (``"90m"``, ``"26h"``, ``"2d"``)."""

    column: Identifier
    max_age: Annotated[str, AfterValidator(_duration)]

    @property
    def max_age_seconds(self) -> float:
        match = _DURATION.match(self.max_age)
        assert match is not None
        return float(match[1]) * _SECONDS[match[2]]


CHECK_KINDS = ("min_rows", "unique", "not_null", "freshness", "max_row_drop", "expr")


class TableCheck(ConfigModel):
    """A table-level check on what a run produced: exactly one kind, an ``action`` and a ``name``.

    Kinds: ``min_rows: N``; ``unique: [columns]``; ``not_null: [columns]``;
    ``freshness: {column, max_age}``; ``max_row_drop: fraction`` of rows lost against the table's
    previous version; ``expr``: an aggregate SQL boolean (``sum(revenue) >= 0``).
    ``action: fail`` stops the layer (gold: before the table is replaced); ``warn`` only records.
    """

    name: Identifier
    action: Literal["warn", "fail"]
    min_rows: int | None = Field(default=None, ge=0)
    unique: list[Identifier] | None = Field(default=None, min_length=1)
    not_null: list[Identifier] | None = Field(default=None, min_length=1)
    freshness: Freshness | None = None
    max_row_drop: float | None = Field(default=None, ge=0.0, le=1.0)
    expr: SqlText | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> TableCheck:
        given = [k for k in CHECK_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"declare exactly one of {list(CHECK_KINDS)} (got {given or 'none'})")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in CHECK_KINDS if getattr(self, k) is not None)


def _unique_check_names(checks: list[TableCheck]) -> list[TableCheck]:
    names = [c.name for c in checks]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"check names {repeated} are used more than once")
    return checks


TableChecks = Annotated[list[TableCheck], AfterValidator(_unique_check_names)]


# --------------------------------------------------------------------------- gold tables

_READS_A_TABLE = re.compile(r"\{silver(\.[A-Za-z_][A-Za-z0-9_]*)?\}|\{gold\.[A-Za-z_][A-Za-z0-9_]*\}")


class GoldTable(ConfigModel):
    """One gold aggregate: declarative (derive / filter / group_by / measures) or a ``sql`` SELECT.

    In ``sql`` the pipeline's silver table is ``{silver}``; ``{silver.NAME}`` / ``{gold.NAME}`` name any
    other silver or gold table of the project (resolved by :mod:`medallion.project`).
    """

    table: Identifier
    group_by: list[Identifier] = Field(default_factory=list)
    derive: dict[Identifier, SqlText] = Field(default_factory=dict)
    measures: dict[Identifier, SqlText] = Field(default_factory=dict)
    filter: SqlText | None = None
    sql: SqlText | None = None
    partition_by: list[Identifier] = Field(default_factory=list)
    zorder_by: list[Identifier] = Field(default_factory=list)
    checks: TableChecks = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_shape(self) -> GoldTable:
        if self.sql is not None:
            declarative = [k for k in ("group_by", "derive", "measures", "filter") if getattr(self, k)]
            if declarative:
                raise ValueError(f"sql cannot be combined with {declarative}")
            if not _READS_A_TABLE.search(self.sql):
                raise ValueError("sql must read a table through {silver}, {silver.NAME} or {gold.NAME}")
        elif not self.measures:
            raise ValueError("declare measures (or a sql SELECT)")
        else:
            clash = sorted(set(self.measures) & set(self.group_by))
            if clash:
                raise ValueError(f"measures {clash} clash with group_by columns")
            missing = [c for c in self.partition_by if c not in self.group_by]
            if missing:
                raise ValueError(f"partition_by {missing} must be among group_by {self.group_by}")
        overlap = sorted(set(self.zorder_by) & set(self.partition_by))
        if overlap:
            raise ValueError(f"zorder_by {overlap} are partition columns; Z-order other columns")
        return self
