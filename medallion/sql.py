"""Small Spark helpers shared by every layer: quoted identifiers, DataFrames of driver-side rows and driver-side values as JSON (what configuration SQL may do is :mod:`medallion.security.sql_safety`).

Names from configuration or from source files never reach Spark unquoted, and SQL is never built by
concatenating them: a column is referenced through :func:`column`, which quotes it.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType, _parse_datatype_string

__all__ = ["quote_identifier", "column", "rows_frame", "jsonable"]


def quote_identifier(name: str) -> str:
    """Quote a name for Spark SQL: backticks, inner backticks doubled.

    Example:
        >>> quote_identifier("order date")
        '`order date`'
        >>> quote_identifier("a`b")
        '`a``b`'
    """
    return "`" + name.replace("`", "``") + "`"


def column(name: str) -> Column:
    """``F.col`` of a name taken literally (dots, spaces and backticks included)."""
    return F.col(quote_identifier(name))


#: Above this many rows, :func:`rows_frame` ships them as an RDD: a plan of literals grows with them.
_LITERAL_ROWS = 256


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, (date, Decimal)):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} into a rows_frame")


def rows_frame(spark: SparkSession, rows: Sequence[Sequence[Any]], schema: str | StructType) -> DataFrame:
    """A DataFrame of a few driver-side rows (audit records), computed by one task.

    Each row travels as a JSON literal parsed by ``from_json``: no Python RDD, no pickling, one task.
    ``spark.createDataFrame`` parallelises a list into a two-task RDD and its first use in a JVM costs
    seconds; each audit append (run log, file record, check history) paid it. Naive datetimes are UTC.
    Many rows (a first ingest of thousands of files) go through ``createDataFrame``, whose plan does
    not grow with them.
    """
    struct = schema if isinstance(schema, StructType) else _parse_datatype_string(schema)
    assert isinstance(struct, StructType)
    if not rows or len(rows) > _LITERAL_ROWS:
        return spark.createDataFrame(list(rows), struct)
    names = [f.name for f in struct.fields]
    texts = [json.dumps(dict(zip(names, row, strict=True)), default=_json_value) for row in rows]
    one_per_row = spark.range(0, 1, 1, numPartitions=1).select(F.explode(F.array(*[F.lit(t) for t in texts])).alias("j"))
    return one_per_row.select(F.from_json("j", struct).alias("r")).select("r.*")


def jsonable(value: Any) -> Any:
    """A driver-side value as JSON can hold it: scalars as they are, sequences element-wise, the rest
    (dates, timestamps, decimals) as their string."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Sequence):
        return [jsonable(v) for v in value]
    return str(value)
