"""The landing zone: list raw files and read them without losing a record.

Reading rules (the bronze contract):
- PERMISSIVE parsing; anything unparseable lands in ``_corrupt_record`` with its raw text.
- Without a declared ``schema``, every source column is kept as a STRING exactly as read (nested JSON
  objects and arrays as JSON text). Types therefore never conflict between deliveries, and columns
  that appear later are merged into the bronze table. Silver casts.
- With a declared ``schema`` (DDL), values are typed by it; a record that does not fit is corrupt.
- Every row carries ``_source_file``, the fully qualified path of the file it came from.

Paths go through Hadoop's FileSystem, so ``abfss://`` works wherever the cluster can reach it.
"""
from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, MapType, StringType, StructField, StructType

from medallion.columns import CORRUPT_RECORD, SOURCE_FILE
from medallion.config import SourceConfig
from medallion.errors import SourceError
from medallion.sql import column

__all__ = ["LandingFile", "list_files", "read_files"]

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class LandingFile:
    """One file in the landing zone."""

    path: str  # fully qualified, as Spark reports it in _metadata.file_path
    size: int
    modified_ms: int


def list_files(spark: SparkSession, root: str) -> list[LandingFile]:
    """Every data file under ``root``, recursively, skipping hidden (``.x``) and metadata (``_x``) entries.

    A missing landing folder holds no files (a fresh environment is normal), so it returns ``[]``.
    """
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    root_path = jvm.org.apache.hadoop.fs.Path(root)
    try:
        fs = root_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        if not fs.exists(root_path):
            log.warning("landing path %s does not exist yet: no files", root)
            return []
        root_q = fs.makeQualified(root_path).toString().rstrip("/")
        files: list[LandingFile] = []
        it = fs.listFiles(root_path, True)
        while it.hasNext():
            status = it.next()
            path = status.getPath().toString()
            relative = path[len(root_q):].lstrip("/") if path.startswith(root_q) else status.getPath().getName()
            if any(part.startswith((".", "_")) for part in relative.split("/")):
                continue
            files.append(LandingFile(path, int(status.getLen()), int(status.getModificationTime())))
    except Exception as err:  # py4j surfaces Java IO errors as generic exceptions
        raise SourceError(f"cannot list landing path {root}: {type(err).__name__}: {err}") from err
    return sorted(files, key=lambda f: f.path)


def read_files(spark: SparkSession, source: SourceConfig, paths: Sequence[str]) -> DataFrame:
    """Read ``paths`` per the source config: source columns + ``_corrupt_record`` + ``_source_file``."""
    if not paths:
        raise ValueError("read_files needs at least one path")
    if source.format == "json":
        df = _read_json(spark, source, paths)
    elif source.format == "csv":
        df = _read_csv(spark, source, paths)
    else:
        df = _read_parquet(spark, source, paths)
    if CORRUPT_RECORD not in df.columns:
        df = df.withColumn(CORRUPT_RECORD, F.lit(None).cast("string"))
    return df


def _permissive(spark: SparkSession, source: SourceConfig):  # type: ignore[no-untyped-def]
    return spark.read.options(**source.options).options(mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT_RECORD)


def _with_file(df: DataFrame) -> DataFrame:
    return df.select("*", F.col("_metadata.file_path").alias(SOURCE_FILE))


def _declared_schema(source: SourceConfig) -> str | None:
    if source.schema_ is None:
        return None
    return f"{source.schema_}, `{CORRUPT_RECORD}` STRING"


def _read_json(spark: SparkSession, source: SourceConfig, paths: Sequence[str]) -> DataFrame:
    reader = _permissive(spark, source)
    declared = _declared_schema(source)
    if declared is not None:
        return _with_file(reader.schema(declared).json(list(paths)))
    df = reader.option("primitivesAsString", "true").json(list(paths))
    if [f.name for f in df.schema.fields] == [CORRUPT_RECORD]:
        # Only unparseable lines: Spark refuses to select the corrupt column alone from raw JSON,
        # and the text reader gives the same lines verbatim.
        return _corrupt_only_as_text(spark, paths)
    return _with_file(df).select(*[_as_string(df.schema[c]) for c in df.columns], SOURCE_FILE)


def _corrupt_only_as_text(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    text = spark.read.text(list(paths))
    return (
        text.where(F.trim("value") != "")
        .select(F.col("value").alias(CORRUPT_RECORD), F.col("_metadata.file_path").alias(SOURCE_FILE))
    )


def _as_string(field: StructField) -> Column:
    col = column(field.name)
    if field.name == CORRUPT_RECORD or isinstance(field.dataType, StringType):
        return col
    if isinstance(field.dataType, (StructType, ArrayType, MapType)):
        return F.to_json(col).alias(field.name)
    return col.cast("string").alias(field.name)


def _read_csv(spark: SparkSession, source: SourceConfig, paths: Sequence[str]) -> DataFrame:
    declared = _declared_schema(source)
    if declared is not None:
        return _with_file(_permissive(spark, source).schema(declared).csv(list(paths)))
    # No declared schema: files may carry different headers (drift). Read each header, group the files
    # by header and read each group with an all-STRING schema that includes _corrupt_record, so
    # rows with too many or too few fields are kept raw. Groups are unioned by column name.
    header = source.options.get("header", "false").lower() == "true"
    delimiter = source.options.get("sep", source.options.get("delimiter", ","))
    groups: dict[tuple[str, ...], list[str]] = {}
    for path in paths:
        first = _first_line(spark, path)
        if first is None:
            continue
        fields = next(csv.reader([first], delimiter=delimiter), [])
        names = tuple(f.strip() for f in fields) if header else tuple(f"_c{i}" for i in range(len(fields)))
        groups.setdefault(names, []).append(path)
    if not groups:
        return spark.createDataFrame([], f"`{CORRUPT_RECORD}` STRING, `{SOURCE_FILE}` STRING")
    frames = []
    for names, group in groups.items():
        schema = StructType([StructField(n, StringType()) for n in names] + [StructField(CORRUPT_RECORD, StringType())])
        frames.append(_with_file(_permissive(spark, source).schema(schema).csv(group)))
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)


def _first_line(spark: SparkSession, path: str) -> str | None:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.open(hpath)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        line = reader.readLine()
    finally:
        stream.close()
    if line is None:
        return None
    return line.lstrip("\ufeff")


def _read_parquet(spark: SparkSession, source: SourceConfig, paths: Sequence[str]) -> DataFrame:
    reader = spark.read.options(**source.options)
    declared = source.schema_
    if declared is not None:
        return _with_file(reader.schema(declared).parquet(*paths))
    try:
        df = reader.option("mergeSchema", "true").parquet(*paths)
        frames = [df]
    except Exception as err:  # incompatible types between files: read them one by one
        log.warning("parquet files disagree on types (%s); reading them one by one", type(err).__name__)
        frames = [reader.parquet(p) for p in paths]
    typed = [_with_file(f).select(*[_as_string(f.schema[c]) for c in f.columns], SOURCE_FILE) for f in frames]
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), typed)
