"""The tables a gold ``sql`` reads: ``{silver}``, ``{silver.NAME}`` and ``{gold.NAME}`` placeholders.

Pure Python, no JVM: parsing a query's placeholders (:func:`parse_references`), naming the tables
they resolve to (:func:`gold_inputs`), and rewriting the text so PySpark's DataFrame binding
(``spark.sql(text, **frames)``) can fill it (:func:`bindable_sql`). The project-wide checks (does
``NAME`` exist, are there cycles) are in :mod:`medallion.project`.

Example:
    >>> [r.placeholder for r in parse_references("SELECT * FROM {silver} o JOIN {silver.customers} c ON ...")]
    ['silver', 'silver.customers']
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass

from medallion.config import PipelineConfig
from medallion.config.gold import GoldTable

__all__ = ["TableRef", "parse_references", "bindable_sql", "gold_inputs", "table_key"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_LAYERS = ("silver", "gold")


@dataclass(frozen=True, order=True)
class TableRef:
    """One placeholder: ``layer`` and ``name`` (None for ``{silver}``, the pipeline's own silver table)."""

    layer: str
    name: str | None = None

    @property
    def placeholder(self) -> str:
        """The text between the braces."""
        return self.layer if self.name is None else f"{self.layer}.{self.name}"

    @property
    def argument(self) -> str:
        """The keyword the query is bound with (``spark.sql(text, silver__customers=df)``)."""
        return self.layer if self.name is None else f"{self.layer}__{self.name}"

    def table(self, pipeline: PipelineConfig) -> tuple[str, str]:
        """``(layer, table name)`` this reference reads when it appears in ``pipeline``."""
        if self.name is None:
            assert pipeline.silver is not None
            return "silver", pipeline.silver.table
        return self.layer, self.name


def table_key(layer: str, table: str) -> str:
    """``layer/table``: how inputs are named in build state and reports."""
    return f"{layer}/{table}"


def _fields(sql: str) -> list[tuple[str, str, str | None]]:
    try:
        return [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(sql) if name is not None]
    except ValueError as err:
        raise ValueError(f"invalid braces ({err}); write literal braces as {{{{ and }}}}") from err


def parse_references(sql: str) -> list[TableRef]:
    """The distinct placeholders of ``sql``, in order of first appearance.

    Raises:
        ValueError: unbalanced braces, or a placeholder other than ``{silver}``, ``{silver.NAME}``,
            ``{gold.NAME}`` (literal braces are written doubled, as in ``str.format``).
    """
    refs: list[TableRef] = []
    bad: list[str] = []
    for name, spec, conv in _fields(sql):
        parts = name.split(".")
        if spec or conv or parts[0] not in _LAYERS or len(parts) > 2 or (len(parts) == 1 and parts[0] != "silver"):
            bad.append("{" + name + "}")
            continue
        if len(parts) == 2 and not _NAME.match(parts[1]):
            bad.append("{" + name + "}")
            continue
        ref = TableRef(parts[0], parts[1] if len(parts) == 2 else None)
        if ref not in refs:
            refs.append(ref)
    if bad:
        raise ValueError(
            f"unknown placeholder(s) {sorted(set(bad))}: use {{silver}}, {{silver.NAME}} or {{gold.NAME}} "
            "(write literal braces as {{ and }})"
        )
    if not refs:
        raise ValueError("sql must read a table through {silver}, {silver.NAME} or {gold.NAME}")
    return refs


def bindable_sql(sql: str) -> str:
    """``sql`` with each placeholder renamed to its :attr:`TableRef.argument` (literal braces kept escaped)."""
    out = []
    for literal, name, _spec, _conv in string.Formatter().parse(sql):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is not None:
            parts = name.split(".")
            out.append("{" + TableRef(parts[0], parts[1] if len(parts) == 2 else None).argument + "}")
    return "".join(out)


def gold_inputs(pipeline: PipelineConfig, gold: GoldTable) -> dict[TableRef, tuple[str, str]]:
    """What one gold table reads: each reference and its ``(layer, table)`` (declarative: ``{silver}``)."""
    refs = parse_references(gold.sql) if gold.sql is not None else [TableRef("silver")]
    return {ref: ref.table(pipeline) for ref in refs}
