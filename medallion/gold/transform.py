"""Gold's pure transforms: a declarative entry as a ``DataFrame -> DataFrame``, a ``sql`` entry bound
to its tables, and the predicate that selects the partitions a build replaces.

Example:
    >>> silver_df.transform(gold_transform(gold))
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from medallion.config.gold import GoldTable
from medallion.gold.references import TableRef, bindable_sql
from medallion.sql import quote_identifier

__all__ = ["gold_transform", "derive_and_filter", "gold_frame", "partition_predicate", "column_sql"]


def gold_transform(gold: GoldTable) -> Callable[[DataFrame], DataFrame]:
    """The declarative form of ``gold`` as a ``DataFrame -> DataFrame`` transform over silver.

    ``derive`` columns are added together (each sees the silver columns), then ``filter`` keeps rows
    where it is true, then rows are grouped by ``group_by`` and aggregated into ``measures``.

    Example:
        >>> silver_df.transform(gold_transform(gold))
    """
    if gold.sql is not None:
        raise ValueError(f"gold table {gold.table!r} is a sql query; use gold_frame()")

    def transform(df: DataFrame) -> DataFrame:
        df = df.transform(derive_and_filter(gold))
        measures = [F.expr(expr).alias(name) for name, expr in gold.measures.items()]
        return df.groupBy(*[F.col(quote_identifier(c)) for c in gold.group_by]).agg(*measures)

    return transform


def derive_and_filter(gold: GoldTable) -> Callable[[DataFrame], DataFrame]:
    """``derive`` then ``filter`` of a declarative entry (the rows its groups are made of)."""
    def transform(df: DataFrame) -> DataFrame:
        if gold.derive:
            df = df.withColumns({name: F.expr(expr) for name, expr in gold.derive.items()})
        if gold.filter:
            df = df.filter(F.expr(gold.filter))
        return df

    return transform


def gold_frame(
    spark: SparkSession, gold: GoldTable, silver: DataFrame, tables: Mapping[TableRef, DataFrame] | None = None
) -> DataFrame:
    """The gold table's rows computed from ``silver`` (declarative transform or ``sql`` query).

    ``tables`` binds the query's other placeholders (``{silver.NAME}``, ``{gold.NAME}``); PySpark's
    DataFrame formatting substitutes them, so no SQL is concatenated.
    """
    if gold.sql is None:
        return silver.transform(gold_transform(gold))
    frames = {ref.argument: df for ref, df in (tables or {}).items()}
    frames[TableRef("silver").argument] = silver
    return spark.sql(bindable_sql(gold.sql), **frames)


def partition_predicate(columns: Sequence[str], values: Sequence[tuple[Any, ...]]) -> Column:
    """A Column selecting exactly the partitions ``values`` (tuples aligned with ``columns``).

    Null-safe: a ``None`` partition value selects the null partition.
    """
    if not values:
        return F.lit(False)
    if len(columns) == 1:
        col = F.col(quote_identifier(columns[0]))
        present = sorted({v[0] for v in values if v[0] is not None}, key=repr)
        conds = [col.isin(present)] if present else []
        if any(v[0] is None for v in values):
            conds.append(col.isNull())
        return reduce(lambda a, b: a | b, conds)
    per_partition = [
        reduce(lambda a, b: a & b, [F.col(quote_identifier(c)).eqNullSafe(F.lit(v)) for c, v in zip(columns, value, strict=True)])
        for value in values
    ]
    return reduce(lambda a, b: a | b, per_partition)


def column_sql(column: Column) -> str:
    """Spark's own SQL rendering of a Column (literals escaped and identifiers quoted by Spark)."""
    return str(column._jc.expr().sql())
