"""JSON lines parsed in one pass, nothing cached, when bronze can name every key up front.

Without a declared schema, :mod:`medallion.bronze.landing` parses each JSON line into a ``MAP<STRING, STRING>``
and must know the delivery's key set before it writes, so it caches the parsed lines and collects their
keys first (a Spark job and a cache of the whole delivery). Most deliveries are regular: the keys of a
file's first lines, together with the keys the bronze table already holds, are all there are. For
those, this module parses each line straight into a STRUCT of those keys (all STRING, the same value
conversion as the map's) and writes in the same pass. The keys are taken from the table's columns and
from a sample of the delivery's first lines (:func:`sample_keys`: a small read, not a pass). Only for
JSON lines read with Spark's default parser options: a ``multiLine`` file is mostly one JSON array, which
this parse would refuse every time, and an option such as ``allowSingleQuotes`` accepts lines whose keys
the check below (``json_object_keys``, strict JSON) could not see.

Every row is checked on the way: a line with a key outside that set, an array line, or (when the
table has no ``_corrupt_bytes`` column yet) a line that is not valid UTF-8 stops the write with
:data:`SHAPE_CHANGED`. Nothing is committed then (the Delta commit never happens; the partial write's
files are unreferenced and go with ``VACUUM``), and the caller reads the delivery again the general
way. So a column that appears in only one record can never be lost; an irregular delivery pays one
partial write more.

The rows equal what the general path gives (tests/test_landing_json.py compares both on hostile lines):
a record is corrupt when it is not valid UTF-8 or does not parse as one JSON object, and
``_corrupt_record`` then holds the line; of a key given twice in one object, the last value counts.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from medallion.bronze.source_names import assign_names
from medallion.columns import CORRUPT_BYTES, CORRUPT_RECORD, SOURCE_FILE

__all__ = ["SHAPE_CHANGED", "SAMPLE_LINES", "sample_keys", "known_keys", "parse_known", "shape_changed"]

#: The message that stops a write whose delivery has a shape the table does not hold yet.
SHAPE_CHANGED = "medallion: this delivery has a JSON shape bronze does not hold yet"
#: Lines sampled for keys the table does not hold yet.
SAMPLE_LINES = 200


def sample_keys(lines: DataFrame, rows: int = SAMPLE_LINES) -> set[str]:
    """The top-level keys of the first ``rows`` lines of ``lines`` (a ``limit`` read of the first split,
    parsed on the driver: only a guess, which :func:`parse_known`'s check makes safe)."""
    keys: set[str] = set()
    for row in lines.where(F.col("valid")).select("line").limit(rows).collect():
        try:
            value = json.loads(row[0])
        except ValueError:
            continue
        for record in value if isinstance(value, list) else [value]:
            if isinstance(record, dict):
                keys.update(str(k) for k in record)
    return keys


def known_keys(existing: Mapping[str, str], lines: DataFrame, *, taken: Sequence[str]) -> list[str] | None:
    """The source keys to parse as STRUCT fields: the bronze table's (``column -> source key``) and those
    of ``lines``' first lines (:func:`sample_keys`, read only when the table's keys allow a one pass);
    None when the one-pass parse does not apply: nothing known, or a key needs another column name (the
    general path decides those, :func:`medallion.bronze.source_names.assign_names`)."""
    if any(column != key for column, key in existing.items()):
        return None
    keys = sorted(set(existing.values()) | sample_keys(lines))
    if not keys:
        return None
    names = assign_names(keys, existing, taken=taken)
    if any(key != name for key, name in names.items()):
        return None
    return keys


def parse_known(lines: DataFrame, keys: list[str], parse_options: Mapping[str, Any], *, keep_bytes: bool) -> DataFrame:
    """``lines`` (``line``, ``valid``, ``raw``, ``_source_file``) as bronze's source columns, parsed as a
    STRUCT of ``keys``, with ``_corrupt_record`` (+ ``_corrupt_bytes`` when ``keep_bytes``).

    Evaluating a row with another shape raises :data:`SHAPE_CHANGED` (see the module docstring).
    """
    schema = StructType([StructField(k, StringType()) for k in keys] + [StructField(CORRUPT_RECORD, StringType())])
    options = {**parse_options, "mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}
    valid, line = F.col("valid"), F.col("line")
    record = F.when(valid, F.from_json(line, schema, options))
    # json_object_keys: the top-level keys of an object line, null for anything else (then it is
    # corrupt, or an array, which is refused below).
    new_keys = F.array_except(F.coalesce(F.json_object_keys(line), F.array().cast("array<string>")),
                              F.array(*[F.lit(k) for k in keys]))
    refused: Column = F.ltrim(line).startswith("[") | (F.size(new_keys) > 0)
    if not keep_bytes:
        refused = refused | ~valid
    parsed = lines.select(record.alias("r"), line, valid, "raw", SOURCE_FILE)
    r = F.col("r")
    corrupt = F.when(r.isNull() | r.getField(CORRUPT_RECORD).isNotNull(), line)
    return parsed.select(
        *[r.getField(k).alias(k) for k in keys],
        F.when(refused, F.raise_error(F.lit(SHAPE_CHANGED)).cast("string")).otherwise(corrupt).alias(CORRUPT_RECORD),
        *([F.when(~valid, F.col("raw")).alias(CORRUPT_BYTES)] if keep_bytes else []),
        SOURCE_FILE,
    )


def shape_changed(err: BaseException) -> bool:
    """Whether ``err`` is a write stopped by :func:`parse_known`'s check."""
    return SHAPE_CHANGED in str(err)
