"""The rows a range of Delta versions appended, read as plain Parquet scans when that is exact.

Silver consumes bronze's change data feed, and bronze only ever appends. For a range of versions that
only added files, the change feed is exactly those files' rows. Delta's batch change-feed reader
hands its rows to Spark as an ``RDD[Row]`` (``DeltaCDFRelation``, delta-io/delta#5084): every value
is converted to a JVM object and back, and the scan costs about twice a plain Parquet scan of the
same files (1M bronze rows: 1.5-1.6 s vs 0.5-0.6 s, BENCHMARKS.md). :func:`read_appended` reads the
added files directly, and gives up (returns None, and the caller reads the change feed) whenever
the shortcut could differ from Delta's reader:

* the table needs a reader protocol above 1 (column mapping, deletion vectors, type widening,
  timestamp without zone: a data file alone no longer says what a row is);
* a commit in the range removed a file, wrote change-data files, added a file without a data change
  (OPTIMIZE) or with a deletion vector, or changed the reader protocol;
* a commit file is gone (log cleanup: the change feed raises its own error), or a path holds a
  character Spark would read as a glob;
* the range needs more than :data:`MAX_SCANS` scans (one per version and partition).

Columns come from the table's schema at the range's last version; a file written before a column
was added reads it as null, as Delta's reader does. Partition values come from each file's ``add``
action, never from directory names. Unlike Delta's reader, which takes file sizes from the log, Spark
looks each named file up once before reading it (a HEAD request on ADLS): cheap for silver's usual
batch of one bronze version and a few files, and bounded by :data:`MAX_SCANS` for a long catch-up.

Example:
    >>> rows = read_appended(spark, "/lake/bronze/orders", 5, 7)   # None: read the change feed
    >>> rows.columns[-1]
    '_commit_version'
"""
from __future__ import annotations

import functools
import logging
from typing import Any
from urllib.parse import unquote, urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    ByteType,
    DateType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructType,
)

from medallion.columns import COMMIT_VERSION
from medallion.delta_table import commit_actions, protocol_reader_version
from medallion.sql import quote_identifier

__all__ = ["MAX_SCANS", "read_appended"]

log = logging.getLogger(__name__)

MAX_SCANS = 64
_PARTITION_TYPES = (StringType, DateType, BooleanType, ByteType, ShortType, IntegerType, LongType)
_GLOB = frozenset("*?[]{}\\")


def read_appended(spark: SparkSession, path: str, start: int, end: int) -> DataFrame | None:
    """The rows versions ``start..end`` (inclusive) of the Delta table at ``path`` added, with
    ``_commit_version``; None when only Delta's change-feed reader is exact (see the module docstring)."""
    if protocol_reader_version(spark, path) != 1:
        return None
    groups: dict[tuple[int, tuple[tuple[str, str | None], ...]], list[str]] = {}
    for version in range(start, end + 1):
        adds = _added_files(spark, path, version)
        if adds is None:
            return None
        for add in adds:
            file = _file_path(path, add["path"])
            if file is None:
                return None
            key = (version, tuple(sorted((add.get("partitionValues") or {}).items())))
            groups.setdefault(key, []).append(file)
            if len(groups) > MAX_SCANS:
                log.info("%s: versions %s..%s need over %s scans; reading the change feed", path, start, end, MAX_SCANS)
                return None
    schema = spark.read.format("delta").option("versionAsOf", end).load(path).schema
    partition_names = {name for (_v, values) in groups for name, _ in values}
    if any(name not in schema.names or not isinstance(schema[name].dataType, _PARTITION_TYPES) for name in partition_names):
        return None
    data_schema = StructType([f for f in schema.fields if f.name not in partition_names])
    scans = [_scan(spark, files, data_schema, schema, dict(values), version) for (version, values), files in groups.items()]
    if not scans:
        return spark.createDataFrame([], StructType([*schema.fields]).add(COMMIT_VERSION, LongType()))
    return functools.reduce(DataFrame.unionByName, scans)


def _added_files(spark: SparkSession, path: str, version: int) -> list[dict[str, Any]] | None:
    """The ``add`` actions of commit ``version``, or None unless the commit only appended data."""
    actions = commit_actions(spark, path, version)
    if actions is None:
        return None
    adds = []
    for action in actions:
        if "add" in action:
            add = action["add"]
            if not add.get("dataChange", True) or add.get("deletionVector"):
                return None
            adds.append(add)
        elif "remove" in action or "cdc" in action:
            return None
        elif "protocol" in action and action["protocol"].get("minReaderVersion", 1) != 1:
            return None
    return adds


def _file_path(table: str, relative: str) -> str | None:
    """An ``add`` action's path (a URI, relative to the table or absolute) as a path Spark reads as is."""
    decoded = unquote(relative)
    full = decoded if urlparse(relative).scheme else f"{table.rstrip('/')}/{decoded}"
    return None if _GLOB & set(full) else full


def _scan(spark: SparkSession, files: list[str], data_schema: StructType, schema: StructType,
          partition_values: dict[str, str | None], version: int) -> DataFrame:
    """One version's files of one partition, with the table's columns in order and ``_commit_version``."""
    df = spark.read.schema(data_schema).parquet(*files)
    columns = [
        F.lit(partition_values[f.name]).cast(f.dataType).alias(f.name) if f.name in partition_values else F.col(quote_identifier(f.name))
        for f in schema.fields
    ]
    return df.select(*columns, F.lit(version).cast(LongType()).alias(COMMIT_VERSION))
