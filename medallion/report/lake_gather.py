"""Read the lake's state (:mod:`medallion.report.lake`) cheaply: snapshots and commit files, not data.

* table sizes: Delta's snapshot through the JVM (files, bytes, version, timestamp: no Spark job) and
  ``count(*)``, which Delta answers from the ``numRecords`` statistics of the add-file actions
  (a metadata-only plan: ``LocalTableScan``, no data file read);
* last commit and the last silver change: the newest ``_delta_log`` commit files, read on the driver;
* the latest run that did work per layer: one windowed query over the run log;
* dead letters by status: one aggregation over the dead-letter table;
* the newest ingested landing file: one aggregation over bronze's file record ``_audit/files``.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from medallion.audit.outcome import Status
from medallion.audit.run_log import RUN_LOG_COLUMNS as RUN
from medallion.audit.run_log import read_run_log
from medallion.bronze.file_log import FILE_LOG_COLUMNS as FILES
from medallion.bronze.file_log import FileStatus
from medallion.clock import as_utc
from medallion.columns import DLQ_STATUS
from medallion.config import EnvConfig, PipelineConfig
from medallion.delta_table import _snapshot, commit_actions
from medallion.observe.breaker import RESUME_LAYER, breaker_states
from medallion.report.compute import safe_text, short_path
from medallion.report.lake import DeadLetterTotals, Freshness, LakeView, TableStats, freshness_threshold
from medallion.report.model import LayerRun
from medallion.sql import column

__all__ = ["lake_views", "table_stats", "last_work", "dead_letter_totals", "silver_changed_at"]

log = logging.getLogger(__name__)

#: Commits that rewrite files without changing data: not a "change" of silver.
_MAINTENANCE = ("OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "UNSET TBLPROPERTIES", "ADD CONSTRAINT")
_LOOK_BACK = 20  # commits read to find silver's last change


def _is_delta(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, path))


def _commit_time(info: dict | None) -> datetime | None:
    ts = (info or {}).get("timestamp")
    return datetime.fromtimestamp(ts / 1000, tz=UTC) if ts else None


def _commit_info(spark: SparkSession, path: str, version: int) -> dict | None:
    return next((a["commitInfo"] for a in commit_actions(spark, path, version) or () if "commitInfo" in a), None)


def table_stats(spark: SparkSession, name: str, path: str) -> TableStats:
    """Rows, files, bytes and last commit of the Delta table at ``path`` (``exists=False`` when absent)."""
    if not _is_delta(spark, path):
        return TableStats(name, exists=False)
    snapshot = _snapshot(spark, path)
    version = int(snapshot.version())
    info = _commit_info(spark, path, version)
    rows = spark.read.format("delta").load(path).count()  # Delta answers from numRecords statistics
    return TableStats(
        name, True, rows=int(rows), files=int(snapshot.numOfFiles()), size_bytes=int(snapshot.sizeInBytes()),
        version=version, last_commit_at=_commit_time(info) or _ms(snapshot.timestamp()),
        last_operation=str((info or {}).get("operation") or "") or None,
    )


def _ms(value: int) -> datetime | None:
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value else None


def silver_changed_at(spark: SparkSession, path: str) -> datetime | None:
    """When silver's data last changed: its newest commit that is not maintenance (OPTIMIZE, VACUUM...)."""
    if not _is_delta(spark, path):
        return None
    latest = int(_snapshot(spark, path).version())
    for version in range(latest, max(latest - _LOOK_BACK, -1), -1):
        info = _commit_info(spark, path, version)
        if info is None:  # log cleaned up: the oldest kept commit's time is a lower bound
            break
        if str(info.get("operation")) not in _MAINTENANCE:
            return _commit_time(info)
    return _ms(_snapshot(spark, path).timestamp())


def last_work(spark: SparkSession, run_log_path: str, pipelines: Sequence[str]) -> dict[str, dict[str, LayerRun]]:
    """Per pipeline and layer, the latest run-log record that ``succeeded`` (committed something)."""
    out: dict[str, dict[str, LayerRun]] = {p: {} for p in pipelines}
    runs = read_run_log(spark, run_log_path) if pipelines else None
    if runs is None:
        return out
    newest = Window.partitionBy(RUN.pipeline, RUN.layer).orderBy(F.col(RUN.started_at).desc(), F.col(RUN.run_id).desc())
    worked = (
        runs.where(F.col(RUN.pipeline).isin(list(pipelines)) & (F.col(RUN.status) == F.lit(str(Status.SUCCEEDED)))
                   & (F.col(RUN.layer) != F.lit(RESUME_LAYER)))
        .withColumn("_n", F.row_number().over(newest))
        .where(F.col("_n") == 1)
        .drop("_n")
    )
    for row in worked.collect():
        record = LayerRun.from_row(row.asDict())
        out.setdefault(record.pipeline, {})[record.layer] = record
    return out


def dead_letter_totals(spark: SparkSession, path: str) -> DeadLetterTotals | None:
    """Dead-letter rows by status, each row once (None: no dead-letter table)."""
    if not _is_delta(spark, path):
        return None
    df = spark.read.format("delta").load(path)
    status = column(DLQ_STATUS).cast("string") if DLQ_STATUS in df.columns else F.lit(None).cast("string")
    rows = df.groupBy(F.coalesce(status, F.lit("pending")).alias("s")).count().collect()
    return DeadLetterTotals.of({r["s"]: int(r["count"]) for r in rows})


def _newest_ingested(spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig) -> tuple[str | None, datetime | None, datetime | None]:
    if not _is_delta(spark, env.files_path):
        return None, None, None
    bronze = env.table_path("bronze", pipeline.bronze.table)
    newest = (
        spark.read.format("delta").load(env.files_path)
        .where((F.col(FILES.bronze_table) == F.lit(bronze)) & (F.col(FILES.status) == F.lit(str(FileStatus.INGESTED))))
        .orderBy(F.col(FILES.modified_ms).desc_nulls_last(), F.col(FILES.recorded_at).desc())
        .select(FILES.path, FILES.modified_ms, FILES.recorded_at)
        .limit(1)
        .collect()
    )
    if not newest:
        return None, None, None
    r = newest[0]
    ingested = as_utc(r[FILES.recorded_at]) if r[FILES.recorded_at] is not None else None
    arrived = _ms(r[FILES.modified_ms]) if r[FILES.modified_ms] else ingested
    return safe_text(short_path(r[FILES.path]), 200), arrived, ingested


def lake_views(
    spark: SparkSession, env: EnvConfig, pipelines: Sequence[PipelineConfig], *, now: datetime
) -> dict[str, LakeView]:
    """The lake's state of each pipeline (see :mod:`medallion.report.lake`)."""
    names = [p.dataset for p in pipelines]
    work = last_work(spark, env.run_log_path, names)
    breakers = breaker_states(spark, env, pipelines) if env.circuit_breaker is not None else {}
    out = {}
    for p in pipelines:
        tables = [table_stats(spark, name, path) for name, path in p.tables(env).items()]
        silver = p.silver
        file_name, arrived, ingested = _newest_ingested(spark, env, p)
        threshold = freshness_threshold(p)
        fresh = Freshness(
            now=now, newest_file=file_name, newest_file_at=arrived, newest_file_ingested_at=ingested,
            silver_changed_at=silver_changed_at(spark, env.table_path("silver", silver.table)) if silver else None,
            threshold_seconds=threshold[0] if threshold else None, threshold_text=threshold[1] if threshold else None,
        )
        dead = dead_letter_totals(spark, env.table_path("silver", silver.dlq)) if silver else None
        out[p.dataset] = LakeView(tables, work.get(p.dataset, {}), dead, fresh, breakers.get(p.dataset))
    return out
