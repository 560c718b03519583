"""Bronze: landing files into an append-only Delta table, every record kept, each file exactly once.

Exactly once, crash-safe: the set of files already ingested is derived from the bronze table itself
(``_source_file``), read at a fixed table version ``v``. A file's rows and the fact that it is done
therefore commit in the same Delta transaction: a crash before the commit leaves nothing, a crash after
it leaves the file recorded. The append also carries Delta's idempotent-write options
(``txnAppId`` = this table, ``txnVersion`` = ``v + 1``), so two runs racing on the same snapshot
cannot both append the same files: Delta silently drops the second one, and we report it as skipped.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from medallion.audit import LayerResult, as_utc
from medallion.config import EnvConfig, PipelineConfig
from medallion.landing import CORRUPT, SOURCE_FILE, list_files, read_files
from medallion.merge import latest_version
from medallion.session import session_conf
from medallion.sql import column

__all__ = ["run_bronze", "add_audit_columns", "ingested_files", "AUDIT_COLUMNS", "PARTITION_COLUMN"]

log = logging.getLogger(__name__)

PARTITION_COLUMN = "_processing_date"
STATS_COLUMNS = (SOURCE_FILE, "_ingested_at", "_run_id")
_STRING_STATS_PREFIX = "spark.databricks.io.skipping.stringPrefixLength"
AUDIT_COLUMNS = (CORRUPT, "_ingested_at", SOURCE_FILE, "_source_system", PARTITION_COLUMN, "_record_hash", "_run_id")


def add_audit_columns(source_system: str, run_id: str, now: datetime):  # type: ignore[no-untyped-def]
    """A transform adding bronze's audit columns to a frame of source columns + ``_corrupt_record``.

    ``_record_hash`` is the SHA-256 of the record's non-null ``name=value`` pairs in name order, joined
    by NUL: the same record hashes the same whichever column order its file had, and columns added by a
    later delivery (null for older records) do not change it. (Cheaper than hashing ``to_json``: the
    benchmark measured JSON rendering as ~30 % of bronze's write.)

    Example:
        >>> bronze_df = raw_df.transform(add_audit_columns("webshop", "run-1", now))
    """

    def transform(df: DataFrame) -> DataFrame:
        data_cols = sorted(c for c in df.columns if c != SOURCE_FILE)
        # concat(...) of a null value is null, and concat_ws skips nulls.
        record: Column = F.concat_ws("\u0000", *[F.concat(F.lit(f"{c}="), column(c)) for c in data_cols])
        ingested_at = F.lit(as_utc(now)).cast("timestamp")
        return df.select(
            *[column(c) for c in df.columns if c not in AUDIT_COLUMNS],
            F.col(CORRUPT),
            ingested_at.alias("_ingested_at"),
            F.col(SOURCE_FILE),
            F.lit(source_system).alias("_source_system"),
            F.to_date(ingested_at).alias(PARTITION_COLUMN),
            F.sha2(record, 256).alias("_record_hash"),
            F.lit(run_id).alias("_run_id"),
        )

    return transform


def ingested_files(spark: SparkSession, path: str, version: int, candidates: Sequence[str]) -> set[str]:
    """Which of ``candidates`` are already in the bronze table at ``version``.

    Filtering on the candidates lets Delta skip every data file whose ``_source_file`` min/max
    statistics exclude them, so the check does not grow with the table's history.
    """
    if not candidates:
        return set()
    df = spark.read.format("delta").option("versionAsOf", version).load(path)
    found = df.where(F.col(SOURCE_FILE).isin(list(candidates))).select(SOURCE_FILE).distinct()
    return {r[0] for r in found.collect()}


def _app_id(path: str) -> str:
    return f"medallion-bronze:{path}"


def run_bronze(
    spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, result: LayerResult, *, now: datetime
) -> LayerResult:
    """Ingest the landing files not yet in bronze. See the module docstring for the guarantees."""
    source = pipeline.source
    landing = env.resolve_landing(source.path)
    target = env.table_path("bronze", pipeline.bronze.table)

    files = list_files(spark, landing)
    version = latest_version(spark, target)  # -1: no table yet
    exists = version >= 0
    done = ingested_files(spark, target, version, [f.path for f in files]) if exists else set()
    new = [f for f in files if f.path not in done]
    empty = [f for f in new if f.size == 0]
    to_read = [f for f in new if f.size > 0]
    result.files_skipped = len(files) - len(new)
    result.source_version = version if exists else None
    result.details.update(landing=landing, files_empty=len(empty), files=[f.path for f in to_read])
    log.info(
        "bronze %s: %d file(s) in %s, %d already ingested, %d new (%d empty)",
        pipeline.bronze.table, len(files), landing, result.files_skipped, len(new), len(empty),
    )
    if not to_read:
        result.status = "skipped"
        return result

    raw = read_files(spark, source, [f.path for f in to_read])
    bronze = raw.transform(add_audit_columns(source.source_system, result.run_id, now))
    observed = Observation(f"bronze-{result.run_id}")
    bronze = bronze.observe(
        observed,
        F.count(F.lit(1)).alias("rows"),
        F.count(F.col(CORRUPT)).alias("corrupt"),
    )
    if not exists:
        _create_table(spark, target, bronze)
        version = latest_version(spark, target)

    with session_conf(spark, {_STRING_STATS_PREFIX: "1024"}):  # whole paths in _source_file's min/max
        _append(bronze, target, version=version, run_id=result.run_id)
    commit = _our_commit(spark, target, after=version, run_id=result.run_id)
    if commit is None:
        # Delta dropped the append before running it, so the observation never fired: do not wait on it.
        log.warning("bronze %s: a concurrent run already ingested these files; nothing appended", target)
        result.details["concurrent_skip"] = True
        result.status = "skipped"
        return result
    metrics = observed.get
    result.rows_in = int(metrics.get("rows", 0))
    result.rows_corrupt = int(metrics.get("corrupt", 0))
    result.target_version, written = commit
    result.rows_out = written
    result.files_ingested = len(to_read)
    log.info(
        "bronze %s: %d file(s), %d record(s) appended (%d corrupt) at version %d",
        pipeline.bronze.table, len(to_read), result.rows_out, result.rows_corrupt, result.target_version,
    )
    return result


def _append(df: DataFrame, path: str, *, version: int, run_id: str) -> None:
    (
        df.write.format("delta")
        .mode("append")
        .option("mergeSchema", "true")
        .option("txnAppId", _app_id(path))
        .option("txnVersion", version + 1)
        .option("userMetadata", json.dumps({"run_id": run_id, "layer": "bronze"}))
        .save(path)
    )


def _create_table(spark: SparkSession, path: str, df: DataFrame) -> None:
    """Create the empty bronze table with change data feed on (silver reads bronze incrementally)."""
    (
        DeltaTable.createIfNotExists(spark)
        .location(path)
        .addColumns(df.schema)
        .partitionedBy(PARTITION_COLUMN)
        .property("delta.enableChangeDataFeed", "true")
        # Statistics only where they are used (file skipping for the exactly-once check and by date),
        # whatever the number of source columns.
        .property("delta.dataSkippingStatsColumns", ",".join(STATS_COLUMNS))
        .execute()
    )


def _our_commit(spark: SparkSession, path: str, *, after: int, run_id: str) -> tuple[int, int] | None:
    """``(version, rows written)`` of this run's append after ``after``, or None if Delta skipped it."""
    table = DeltaTable.forPath(spark, path)
    latest = latest_version(spark, path)
    # Only the commits since `after` (usually just ours): the full history grows with the table.
    history = table.history(max(latest - after, 1)).where(F.col("version") > after)
    for row in history.select("version", "userMetadata", "operationMetrics").collect():
        meta = json.loads(row["userMetadata"]) if row["userMetadata"] else {}
        if meta.get("run_id") == run_id:
            return int(row["version"]), int((row["operationMetrics"] or {}).get("numOutputRows", 0))
    return None
