"""The datasets a layer run reads and writes, named the OpenLineage way, with their column lineage.

Naming (the OpenLineage dataset naming conventions):

* ``abfss://container@account.dfs.core.windows.net/path`` -> namespace
  ``abfss://container@account.dfs.core.windows.net``, name ``/path``;
* a local path -> namespace ``file``, name the absolute path.

Column lineage is read from the pipeline file, without Spark: an output column's inputs are the
input table's columns its SQL expression names (identifiers outside string literals; backquoted
names too). Silver: each ``columns:`` entry over bronze. Gold (declarative): ``group_by`` columns and
``measures`` over silver, through ``derive`` (a derived column contributes the silver columns it
reads). Gold ``sql``: no column lineage; the tables its placeholders bind are whole-table inputs.

Example:
    >>> dataset_id("abfss://lake@acct.dfs.core.windows.net/lakehouse/silver/orders")
    ('abfss://lake@acct.dfs.core.windows.net', '/lakehouse/silver/orders')
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from medallion.config import EnvConfig, PipelineConfig, is_uri
from medallion.config.gold import GoldTable
from medallion.gold.references import gold_inputs

__all__ = ["DatasetRef", "dataset_id", "layer_datasets", "referenced_columns", "silver_lineage", "gold_lineage"]

_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_TOKEN = re.compile(r"`([^`]+)`|([A-Za-z_][A-Za-z0-9_]*)")


def dataset_id(path: str) -> tuple[str, str]:
    """``(namespace, name)`` of a table or folder at ``path`` (a URI or a local path)."""
    if is_uri(path):
        parts = urlsplit(path)
        if parts.scheme == "file":
            return "file", parts.path
        return f"{parts.scheme}://{parts.netloc}", parts.path or "/"
    return "file", os.path.abspath(path)


@dataclass(frozen=True)
class DatasetRef:
    """One dataset of a layer run: its ``layer/table`` key (None for the landing folder) and path."""

    key: str | None
    path: str
    #: output column -> the input datasets' columns it is computed from: {column: [(input path, column)]}
    column_inputs: Mapping[str, list[tuple[str, str]]] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return dataset_id(self.path)[0]

    @property
    def name(self) -> str:
        return dataset_id(self.path)[1]


def referenced_columns(expr: str, columns: Iterable[str]) -> list[str]:
    """The names among ``columns`` that SQL ``expr`` mentions (case-insensitive, literals skipped)."""
    known = {c.lower(): c for c in columns}
    found: list[str] = []
    for match in _TOKEN.finditer(_STRING.sub(" ", expr)):
        name = known.get((match[1] or match[2]).lower())
        if name is not None and name not in found:
            found.append(name)
    return found


def silver_lineage(pipeline: PipelineConfig, bronze_path: str, bronze_columns: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """Each silver ``columns:`` entry -> the bronze columns its expression reads."""
    assert pipeline.silver is not None
    cols = list(bronze_columns)
    return {out: [(bronze_path, c) for c in referenced_columns(expr, cols)] for out, expr in pipeline.silver.columns.items()}


def gold_lineage(gold: GoldTable, silver_path: str, silver_columns: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """A declarative gold table's columns -> the silver columns they come from (``sql`` tables: none)."""
    if gold.sql is not None:
        return {}
    cols = list(silver_columns)
    derived = {name: referenced_columns(expr, cols) for name, expr in gold.derive.items()}

    def sources(expr: str) -> list[tuple[str, str]]:
        out: list[str] = []
        for name in referenced_columns(expr, [*cols, *derived]):
            for c in derived.get(name, [name]):
                if c not in out:
                    out.append(c)
        return [(silver_path, c) for c in out]

    lineage = {g: sources(f"`{g}`") for g in gold.group_by}
    lineage.update({m: sources(expr) for m, expr in gold.measures.items()})
    return lineage


def layer_datasets(env: EnvConfig, pipeline: PipelineConfig, layer: str) -> tuple[list[DatasetRef], list[DatasetRef]]:
    """``(inputs, outputs)`` of one layer run (``dlq_replay``: the dead-letter table into silver),
    without column lineage (which needs the input tables' columns: :mod:`medallion.observe.lineage.events`)."""

    def table(lay: str, name: str) -> DatasetRef:
        return DatasetRef(f"{lay}/{name}", env.table_path(lay, name))

    bronze = table("bronze", pipeline.bronze.table)
    if layer == "bronze":
        return [DatasetRef(None, env.resolve_landing(pipeline.source.path))], [bronze]
    silver = pipeline.silver
    if silver is None:
        return [], []
    if layer == "silver":
        return [bronze], [table("silver", t) for t in pipeline.table_names("silver")]
    if layer == "dlq_replay":
        return [table("silver", silver.dlq)], [table("silver", silver.table), table("silver", silver.dlq)]
    inputs: dict[str, DatasetRef] = {}
    for gold in pipeline.gold:
        for lay, name in gold_inputs(pipeline, gold).values():
            ref = table(lay, name)
            inputs.setdefault(ref.path, ref)
    return list(inputs.values()), [table("gold", g.table) for g in pipeline.gold]
