"""The landing zone: read raw files without losing a record (listing them: :mod:`medallion.bronze.listing`).

Reading rules (the bronze contract):
- PERMISSIVE parsing; anything unparseable lands in ``_corrupt_record`` with its raw text.
- Without a declared ``schema``, every source column is kept as a STRING exactly as read (nested JSON
  objects and arrays as JSON text). Types therefore never conflict between deliveries, and columns
  that appear later are merged into the bronze table. Silver casts.
- Source keys are case-sensitive: ``Amount`` and ``amount`` are two columns. A key Delta cannot hold
  as it is, or one in medallion's ``_`` namespace, is renamed by :mod:`medallion.bronze.source_names`.
- JSON is read once: as text, each line parsed by ``from_json`` into a ``MAP<STRING, STRING>`` (no
  schema-inference pass over the files); the parsed lines are cached while the key set is collected.
  Usually the keys are known up front (the table's, a sample's): then each line is parsed straight
  into them in one pass, nothing cached (:mod:`medallion.bronze.landing_json`; another shape falls back here).
- A JSON line that is not valid UTF-8 is a corrupt record: ``_corrupt_record`` holds it decoded with
  U+FFFD for each bad byte (valid UTF-8 for every Delta reader), ``_corrupt_bytes`` its exact bytes.
- CSV follows RFC 4180 by default (``multiLine``, ``escape='"'``): a quoted field may hold newlines
  and doubled quotes.
- With a declared ``schema`` (DDL), values are typed by it; a record that does not fit is corrupt.
- Every row carries ``_source_file``, the fully qualified path of the file it came from.
- A file that cannot be read at all (truncated gzip, broken Parquet) raises
  :class:`~medallion.bronze.unreadable.UnreadableFileError` naming it, so the caller can set it aside and read the rest.

Paths go through Hadoop's FileSystem, so ``abfss://`` works wherever the cluster can reach it.
"""
from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, MapType, StringType, StructField, StructType, _parse_datatype_string

from medallion.bronze.landing_json import known_keys, parse_known
from medallion.bronze.source_names import SOURCE_NAME_KEY, assign_names
from medallion.bronze.unreadable import UnreadableFileError, find_unreadable, unreadable_file
from medallion.columns import BRONZE_AUDIT, CORRUPT_BYTES, CORRUPT_RECORD, SOURCE_FILE
from medallion.config import SourceConfig
from medallion.errors import deepest_java_cause
from medallion.sql import column

__all__ = ["Landed", "read_files"]

log = logging.getLogger(__name__)

#: Names no source key may take as its bronze column: bronze's audit columns.
_TAKEN = (*BRONZE_AUDIT, CORRUPT_BYTES)



@dataclass
class Landed:
    """The records of a set of landing files, ready for bronze's audit columns.

    ``frame`` holds the source columns, ``_corrupt_record`` (+ ``_corrupt_bytes`` when needed) and
    ``_source_file``. ``renamed`` maps each source key that got another column name to that name.
    Call :meth:`release` once ``frame`` has been written (it may hold cached data).
    """

    frame: DataFrame
    renamed: dict[str, str] = field(default_factory=dict)
    cached: list[DataFrame] = field(default_factory=list)
    #: JSON only: True when parsed in one pass with keys known up front (:mod:`medallion.bronze.landing_json`);
    #: writing ``frame`` then fails with ``SHAPE_CHANGED`` if the delivery has another shape.
    known_keys: bool = False

    def release(self) -> None:
        for df in self.cached:
            df.unpersist()
        self.cached.clear()


def read_files(
    spark: SparkSession, source: SourceConfig, paths: Sequence[str], existing: Mapping[str, str] | None = None,
    *, one_pass: bool = True, corrupt_bytes: bool = False,
) -> Landed:
    """Read ``paths`` per the source config.

    Args:
        existing: bronze column -> source key of the bronze table so far
            (:func:`medallion.bronze.source_names.recorded_sources`), so a key lands in the column it did before.
        one_pass: JSON may be parsed in one pass with keys known up front (see ``Landed.known_keys``);
            False reads it with key discovery (after a ``SHAPE_CHANGED`` write).
        corrupt_bytes: the bronze table has a ``_corrupt_bytes`` column already.

    Raises:
        UnreadableFileError: one of ``paths`` cannot be read at all (the error names it).
    """
    if not paths:
        raise ValueError("read_files needs at least one path")
    known = dict(existing or {})
    try:
        if source.format == "json":
            landed = _read_json(spark, source, paths, known, one_pass=one_pass, corrupt_bytes=corrupt_bytes)
        elif source.format == "csv":
            landed = _read_csv(spark, source, paths, known)
        else:
            landed = _read_parquet(spark, source, paths, known)
    except UnreadableFileError:
        raise
    except Exception as err:
        path = unreadable_file(err, paths) or find_unreadable(spark, source, err, paths)
        if path is None:
            raise
        raise UnreadableFileError(path, deepest_java_cause(err)) from err
    if CORRUPT_RECORD not in landed.frame.columns:
        landed.frame = landed.frame.withColumn(CORRUPT_RECORD, F.lit(None).cast("string"))
    return landed


# --------------------------------------------------------------------------- shared


def _with_file(df: DataFrame) -> DataFrame:
    return df.select("*", F.col("_metadata.file_path").alias(SOURCE_FILE))


def _declared_schema(source: SourceConfig) -> str | None:
    if source.schema_ is None:
        return None
    return f"{source.schema_}, `{CORRUPT_RECORD}` STRING"


def _as_string(field: StructField) -> Column:
    col = column(field.name)
    if field.name == CORRUPT_RECORD or isinstance(field.dataType, StringType):
        return col
    if isinstance(field.dataType, (StructType, ArrayType, MapType)):
        return F.to_json(col).alias(field.name)
    return col.cast("string").alias(field.name)


def _named(value: Column, key: str, name: str) -> Column:
    """``value`` as bronze column ``name``; a renamed column records its source ``key``."""
    if key == name:
        return value.alias(name)
    return value.alias(name, metadata={SOURCE_NAME_KEY: key})


def _assign(keys: Sequence[str], existing: Mapping[str, str]) -> dict[str, str]:
    names = assign_names(keys, existing, taken=_TAKEN)
    renamed = {k: v for k, v in names.items() if k != v}
    if renamed:
        log.warning("source keys renamed for bronze (see medallion.bronze.source_names): %s", renamed)
    return names


def _without_bom(text: Column) -> Column:
    """``text`` without a leading byte order mark (the regex only runs on the rare line that has one)."""
    return F.when(text.startswith("\ufeff"), F.regexp_replace(text, "^\ufeff", "")).otherwise(text)


def _is_utf8(encoding: str | None) -> bool:
    return encoding is None or encoding.lower().replace("-", "").replace("_", "") == "utf8"


# --------------------------------------------------------------------------- JSON

_JSON_READER_ONLY = {"multiline", "encoding", "charset", "linesep", "samplingratio", "primitivesasstring",
                     "prefersdecimal", "dropfieldifallnull", "pathglobfilter", "recursivefilelookup",
                     "modifiedbefore", "modifiedafter", "ignorecorruptfiles", "ignoremissingfiles", "compression"}


def _read_json(spark: SparkSession, source: SourceConfig, paths: Sequence[str], existing: Mapping[str, str], *,
               one_pass: bool, corrupt_bytes: bool) -> Landed:
    """JSON lines (or whole files with ``multiLine``) read once as text and parsed with ``from_json``."""
    opts = {k.lower(): v for k, v in source.options.items()}
    parse_options = {k: v for k, v in source.options.items() if k.lower() not in _JSON_READER_ONLY}
    whole = opts.get("multiline", "false").lower() == "true"
    encoding = opts.get("encoding", opts.get("charset"))
    reader = spark.read.format("text").option("wholetext", str(whole).lower())
    if "linesep" in opts:
        reader = reader.option("lineSep", opts["linesep"])
    for key in ("pathglobfilter", "recursivefilelookup", "ignoremissingfiles"):
        if key in opts:
            reader = reader.option(key, opts[key])
    text = reader.load(list(paths)).select(F.col("value"), F.col("_metadata.file_path").alias(SOURCE_FILE))

    raw = F.col("value").cast("binary")
    decoded = F.decode(raw, encoding or "UTF-8")
    # Bytes that are not valid UTF-8 do not survive a decode/encode round trip.
    valid = F.lit(True) if not _is_utf8(encoding) else F.encode(decoded, "UTF-8") == raw
    # Blank lines are dropped before anything is decoded: a line of bad bytes is not blank either way.
    # (For UTF-8, decoding only changes bad bytes; another encoding decodes first.)
    blank = F.trim(_without_bom(F.col("value") if _is_utf8(encoding) else decoded)) == ""
    lines = text.where(~blank).select(_without_bom(decoded).alias("line"), valid.alias("valid"), raw.alias("raw"),
                                      SOURCE_FILE)

    declared = _declared_schema(source)
    if declared is not None:
        schema = _parse_datatype_string(declared)
        assert isinstance(schema, StructType)
        options = {**parse_options, "mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}
        parsed = lines.select(
            F.when(F.col("valid"), F.from_json("line", schema, options)).alias("r"), "line", "valid", "raw", SOURCE_FILE
        )
        corrupt = F.when(~F.col("valid"), F.col("line")).otherwise(F.col(f"r.{CORRUPT_RECORD}"))
        data = [F.col("r").getField(f.name).alias(f.name) for f in schema.fields if f.name != CORRUPT_RECORD]
        # Single pass, no action before the write: `_corrupt_bytes` is always there with a declared schema.
        raw_bytes = F.when(~F.col("valid"), F.col("raw")).alias(CORRUPT_BYTES)
        return Landed(parsed.select(*data, corrupt.alias(CORRUPT_RECORD), raw_bytes, SOURCE_FILE))
    # Straight to key discovery: multiLine files (mostly JSON arrays, which the one pass refuses) and any
    # parser option (allowSingleQuotes, allowComments, ...: lines the key check could not read).
    one_pass = one_pass and not whole and not parse_options
    table_keys = known_keys(existing, lines, taken=_TAKEN) if one_pass else None
    if table_keys is not None:
        return Landed(parse_known(lines, table_keys, parse_options, keep_bytes=corrupt_bytes), known_keys=True)

    as_map = MapType(StringType(), StringType())
    trimmed = F.ltrim("line")
    records = F.when(~F.col("valid"), F.array(F.lit(None).cast(as_map))).when(
        trimmed.startswith("["), F.from_json("line", ArrayType(as_map), parse_options)
    ).otherwise(F.array(F.from_json("line", as_map, parse_options)))
    # An array line holding anything but objects, or an empty one, is kept whole as one corrupt record.
    usable = F.when(F.size(records) > 0, records).otherwise(F.array(F.lit(None).cast(as_map)))
    # from_json keeps a key given twice; rebuilt under bronze's LAST_WIN policy, the last value counts.
    last_wins = F.map_from_entries(F.map_entries("m"))
    parsed = (
        lines.select(F.explode(usable).alias("m"), "line", "valid", "raw", SOURCE_FILE)
        .select(last_wins.alias("m"), "line", "valid", "raw", SOURCE_FILE)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    landed = Landed(parsed, cached=[parsed])
    try:
        stats = parsed.select(F.explode_outer(F.map_keys("m")).alias("k"), "valid").agg(
            F.collect_set("k").alias("keys"), F.min(F.col("valid").cast("int")).alias("all_valid")
        ).first()
    except Exception:
        landed.release()
        raise
    keys = sorted(stats["keys"] or []) if stats is not None else []
    any_invalid = stats is not None and stats["all_valid"] == 0
    names = _assign(keys, existing)
    data = [_named(F.col("m").getItem(k), k, names[k]) for k in sorted(keys, key=lambda k: names[k])]
    extra = [F.when(~F.col("valid"), F.col("raw")).alias(CORRUPT_BYTES)] if any_invalid else []
    landed.frame = parsed.select(*data, F.when(F.col("m").isNull(), F.col("line")).alias(CORRUPT_RECORD), *extra, SOURCE_FILE)
    landed.renamed = {k: v for k, v in names.items() if k != v}
    return landed


# --------------------------------------------------------------------------- CSV

#: RFC 4180 unless the pipeline says otherwise: quoted fields may span lines, quotes are doubled.
CSV_DEFAULTS = {"multiLine": "true", "escape": '"'}
_HEAD_BYTES = 1 << 16


def _csv_reader(spark: SparkSession, source: SourceConfig):  # type: ignore[no-untyped-def]
    given = {k.lower() for k in source.options}
    defaults = {k: v for k, v in CSV_DEFAULTS.items() if k.lower() not in given}
    return (
        spark.read.options(**defaults)
        .options(**source.options)
        .options(mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT_RECORD)
    )


def _read_csv(spark: SparkSession, source: SourceConfig, paths: Sequence[str], existing: Mapping[str, str]) -> Landed:
    declared = _declared_schema(source)
    if declared is not None:
        return Landed(_with_file(_csv_reader(spark, source).schema(declared).csv(list(paths))))
    # No declared schema: files may carry different headers (drift). Read each header, group the files
    # by header and read each group with an all-STRING positional schema that includes _corrupt_record,
    # so rows with too many fields are kept raw. Groups are unioned by (bronze) column name.
    opts = {k.lower(): v for k, v in source.options.items()}
    header = opts.get("header", "false").lower() == "true"
    delimiter = opts.get("sep", opts.get("delimiter", ","))
    quote = opts.get("quote", '"')
    groups: dict[tuple[str, ...], list[str]] = {}
    for path in paths:
        fields = _first_record(spark, path, delimiter, quote, opts.get("encoding", opts.get("charset")))
        if fields is None:
            continue
        names = tuple(f.strip() for f in fields) if header else tuple(f"_c{i}" for i in range(len(fields)))
        groups.setdefault(_unique(names), []).append(path)
    if not groups:
        return Landed(spark.createDataFrame([], f"`{CORRUPT_RECORD}` STRING, `{SOURCE_FILE}` STRING"))
    names_of = _assign(sorted({n for g in groups for n in g}), existing)
    frames = []
    for keys, group in groups.items():
        positional = [f"_p{i}" for i in range(len(keys))]
        schema = StructType([StructField(p, StringType()) for p in positional] + [StructField(CORRUPT_RECORD, StringType())])
        df = _with_file(_csv_reader(spark, source).schema(schema).csv(group))
        frames.append(
            df.select(*[_named(F.col(p), k, names_of[k]) for p, k in zip(positional, keys, strict=True)], CORRUPT_RECORD, SOURCE_FILE)
        )
    frame = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)
    return Landed(frame, renamed={k: v for k, v in names_of.items() if k != v})


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    """A header that repeats a name keeps every column: the n-th repeat of ``a`` is the key ``a__n``."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name}__{n}")
    return tuple(out)


def _first_record(spark: SparkSession, path: str, delimiter: str, quote: str, encoding: str | None) -> list[str] | None:
    """The first CSV record of a file (decompressed by its codec; may span lines inside quotes)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    try:
        fs = hpath.getFileSystem(conf)
        stream = fs.open(hpath)
        codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(hpath)
        if codec is not None:
            stream = codec.createInputStream(stream)
        try:
            head = bytes(jvm.org.apache.commons.io.IOUtils.toByteArray(stream, _HEAD_BYTES))
        except Exception:
            # A file shorter than the window: read what there is.
            stream.close()
            stream = fs.open(hpath)
            if codec is not None:
                stream = codec.createInputStream(stream)
            head = bytes(jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()
    except Exception as err:
        raise UnreadableFileError(path, deepest_java_cause(err)) from err
    text = head.decode(encoding or "utf-8", errors="replace").lstrip("\ufeff")
    if not text.strip():
        return None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quote or '"')
    return next(reader, None)


# --------------------------------------------------------------------------- Parquet


def _read_parquet(spark: SparkSession, source: SourceConfig, paths: Sequence[str], existing: Mapping[str, str]) -> Landed:
    reader = spark.read.options(**source.options)
    declared = source.schema_
    if declared is not None:
        return Landed(_with_file(reader.schema(declared).parquet(*paths)))
    try:
        df = reader.option("mergeSchema", "true").parquet(*paths)
        frames = [df]
    except Exception as err:  # incompatible types between files: read them one by one
        if unreadable_file(err, paths) is not None:
            raise
        log.warning("parquet files disagree on types (%s); reading them one by one", type(err).__name__)
        frames = [reader.parquet(p) for p in paths]
    names_of = _assign(sorted({c for f in frames for c in f.columns}), existing)
    typed = [
        _with_file(f).select(*[_named(_as_string(f.schema[c]), c, names_of[c]) for c in f.columns], SOURCE_FILE)
        for f in frames
    ]
    frame = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), typed)
    return Landed(frame, renamed={k: v for k, v in names_of.items() if k != v})
