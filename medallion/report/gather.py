"""Read what the page shows from the lakehouse: a few small Spark queries, then the pure functions of
:mod:`medallion.report.compute`.

Sources, each optional (a lakehouse with no runs yet gives a page that says so):

* the run log ``{lakehouse_root}/_audit/runs`` — the last N runs of each pipeline plus the latest
  record of every layer, in one query;
* the dead-letter table — counts by rule and status (one aggregation) and a few sample rows per rule;
* check results ``{lakehouse_root}/_audit/checks`` and the files bronze set aside as unreadable
  (bronze's file record ``{lakehouse_root}/_audit/files``) where they exist;
* bronze's Delta log — the ``metaData`` actions (schemas) of the commits since the window's first
  run, to find the columns each delivery added, and which of the run's files carried them.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from medallion.audit.run_log import RUN_LOG_COLUMNS as RUN
from medallion.audit.run_log import read_run_log
from medallion.bronze.file_log import FILE_LOG_COLUMNS as FILES
from medallion.bronze.file_log import FileStatus
from medallion.checks.declared_checks import read_latest
from medallion.clock import as_utc, utc_now
from medallion.columns import FAILED_RULES, QUARANTINE_RUN_ID, QUARANTINED_AT, RUN_ID, SOURCE_FILE
from medallion.config import EnvConfig, PipelineConfig, join_path
from medallion.delta_table import parse_metadata
from medallion.report.compute import (
    check_rows,
    drift_events,
    failed_runs,
    flow,
    latest_per_layer,
    safe_text,
    sample_values,
    schema_columns,
    short_path,
    trends,
)
from medallion.report.model import (
    DatasetReport,
    DeadLetterGroup,
    DeadLetterSample,
    DriftEvent,
    LayerRun,
    QuarantinedFile,
    Report,
)
from medallion.silver.dead_letters import status_of, with_status_columns
from medallion.sql import column

__all__ = [
    "build_report",
    "read_runs",
    "read_dead_letters",
    "read_schema_drift",
]

log = logging.getLogger(__name__)

SAMPLES_PER_RULE = 2
MAX_DRIFT_EVENTS = 20
_COMMIT_FILE = r"/(\d{20})\.json$"
_LOG_SCHEMA = (
    "metaData STRUCT<schemaString: STRING>, "
    "commitInfo STRUCT<timestamp: BIGINT, userMetadata: STRING, operation: STRING>"
)


def _is_delta(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, path))


# --------------------------------------------------------------------------- run log


def read_runs(spark: SparkSession, path: str, pipelines: Sequence[str], *, last: int) -> dict[str, list[LayerRun]]:
    """Per pipeline: the records of its last ``last`` runs and the latest record of each layer.

    One query: runs are ranked by their first record's start time within each pipeline.
    """
    out: dict[str, list[LayerRun]] = {name: [] for name in pipelines}
    log_df = read_run_log(spark, path) if pipelines else None
    if log_df is None:
        return out
    runs = log_df.where(F.col(RUN.pipeline).isin(list(pipelines)))
    run_start = F.min(RUN.started_at).over(Window.partitionBy(RUN.pipeline, RUN.run_id))
    ranked = runs.withColumn("_run_start", run_start)
    ranked = ranked.withColumn(
        "_run_rank",
        F.dense_rank().over(Window.partitionBy(RUN.pipeline).orderBy(F.col("_run_start").desc(), F.col(RUN.run_id).desc())),
    ).withColumn(
        "_layer_rank",
        F.row_number().over(Window.partitionBy(RUN.pipeline, RUN.layer).orderBy(F.col(RUN.started_at).desc(), F.col(RUN.run_id).desc())),
    )
    kept = ranked.where((F.col("_run_rank") <= F.lit(last)) | (F.col("_layer_rank") == 1))
    for row in kept.drop("_run_start", "_run_rank", "_layer_rank").collect():
        record = LayerRun.from_row(row.asDict())
        out.setdefault(record.pipeline, []).append(record)
    return out


# --------------------------------------------------------------------------- dead letters


def read_dead_letters(
    spark: SparkSession, path: str, *, samples: int = SAMPLES_PER_RULE
) -> tuple[list[DeadLetterGroup], list[DeadLetterSample]] | None:
    """Dead letters by rule and status, and up to ``samples`` newest rows per rule; None: no table."""
    if not _is_delta(spark, path):
        return None
    df = with_status_columns(spark.read.format("delta").load(path))
    rules = F.col(FAILED_RULES) if FAILED_RULES in df.columns else F.array(F.lit("(unknown)"))
    run_col = column(QUARANTINE_RUN_ID) if QUARANTINE_RUN_ID in df.columns else F.lit(None).cast("string")
    exploded = df.select(
        "*",
        F.explode_outer(rules).alias("_rule"),
        status_of().alias("_rule_status"),
        run_col.alias("_rule_run"),
    ).withColumn("_rule", F.coalesce(F.col("_rule"), F.lit("(none)")))
    groups = [
        DeadLetterGroup(r["_rule"], r["_rule_status"], int(r["rows"]), r["last_run"])
        for r in exploded.groupBy("_rule", "_rule_status")
        .agg(F.count(F.lit(1)).alias("rows"), F.max("_rule_run").alias("last_run"))
        .orderBy(F.col("rows").desc(), "_rule", "_rule_status")
        .collect()
    ]
    order = column(QUARANTINED_AT).desc() if QUARANTINED_AT in df.columns else F.col("_rule_run").desc()
    picked = exploded.withColumn("_sample", F.row_number().over(Window.partitionBy("_rule").orderBy(order)))
    sample_rows = picked.where(F.col("_sample") <= F.lit(samples)).orderBy("_rule", "_sample").collect()
    out = []
    for r in sample_rows:
        values = {k: v for k, v in r.asDict().items() if k not in ("_rule", "_rule_status", "_rule_run", "_sample")}
        out.append(DeadLetterSample(r["_rule"], sample_values(values)))
    return groups, out


# --------------------------------------------------------------------------- schema drift


def read_schema_drift(
    spark: SparkSession, bronze_path: str, *, since: datetime | None, runs: Sequence[LayerRun]
) -> list[DriftEvent]:
    """Columns added to bronze by the commits since ``since`` (None: the whole kept log).

    Reads the ``metaData`` (schema) and ``commitInfo`` actions of bronze's commit files (Delta's
    log, per the Delta protocol): every commit that changed the schema carries the whole new schema.
    The schema before the first such commit comes from the table at the version before it. Each
    event names the run (the commit's ``userMetadata``) and, per column, the files of that run whose
    records have a value in it.
    """
    if not _is_delta(spark, bronze_path):
        return []
    reader = spark.read.schema(_LOG_SCHEMA)
    if since is not None:
        # Only commit files written since the window began (listed, not read, for older ones).
        reader = reader.option("modifiedAfter", (since - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"))
        reader = reader.option("timeZone", "UTC")
    raw = reader.json(join_path(bronze_path, "_delta_log", "*.json"))
    version = F.regexp_extract(F.col("_metadata.file_path"), _COMMIT_FILE, 1)
    actions = raw.select(version.alias("v"), "metaData.schemaString", "commitInfo").where(F.col("v") != "")
    per_commit = actions.groupBy(F.col("v").cast("bigint").alias("version")).agg(
        F.max("schemaString").alias("schema"),
        F.max("commitInfo.timestamp").alias("ts"),
        F.max("commitInfo.userMetadata").alias("meta"),
    )
    rows = per_commit.where(F.col("schema").isNotNull()).orderBy("version").collect()
    if not rows:
        return []
    schemas = [(int(r["version"]), schema_columns(r["schema"])) for r in rows]
    first = schemas[0][0]
    if first > 0:
        before = spark.read.format("delta").option("versionAsOf", first - 1).load(bronze_path).columns
        schemas.insert(0, (first - 1, list(before)))
    commits = {int(r["version"]): _commit_info(r["ts"], r["meta"]) for r in rows}
    events = drift_events(schemas, commits)[-MAX_DRIFT_EVENTS:]
    return [_with_files(spark, bronze_path, e, runs) for e in events]


def _commit_info(ts: int | None, meta: str | None) -> dict[str, Any]:
    at = as_utc(datetime.fromtimestamp(ts / 1000, tz=utc_now().tzinfo)) if ts else None
    return {"run_id": parse_metadata(meta).get("run_id"), "at": at}


def _with_files(spark: SparkSession, bronze_path: str, event: DriftEvent, runs: Sequence[LayerRun]) -> DriftEvent:
    """The event with, per added column, the files of its run whose records carry a value in it."""
    if event.run_id is None:
        return event
    bronze = spark.read.format("delta").option("versionAsOf", event.version).load(bronze_path)
    if SOURCE_FILE not in bronze.columns or RUN_ID not in bronze.columns:
        return event
    counts = (
        bronze.where(column(RUN_ID) == F.lit(event.run_id))
        .groupBy(column(SOURCE_FILE))
        .agg(*[F.count(column(c)).alias(f"n{i}") for i, c in enumerate(event.columns)])
        .collect()
    )
    files: dict[str, list[str]] = {}
    for i, name in enumerate(event.columns):
        files[name] = sorted(_short_path(r[SOURCE_FILE]) for r in counts if r[f"n{i}"])
    if not any(files.values()):
        # A column with no value in any record (e.g. added by a schema-declared read): name the run's files.
        listed = next((r.details.get("files") for r in runs if r.run_id == event.run_id and r.layer == "bronze"), None)
        files = {name: sorted(_short_path(f) for f in listed or []) for name in event.columns}
    return DriftEvent(event.version, event.at, event.run_id, event.columns, files)


def _short_path(path: str) -> str:
    return safe_text(short_path(path), 200)


# --------------------------------------------------------------------------- checks and quarantined files


def _read_checks(spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig) -> list[Any] | None:
    """The newest result of each check on the pipeline's tables (None: no check history yet)."""
    if not _is_delta(spark, env.checks_path):
        return None
    return check_rows(read_latest(spark, env.checks_path, list(pipeline.tables(env))))


def _read_quarantined_files(spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig) -> list[QuarantinedFile] | None:
    """Files bronze set aside as unreadable, newest first, from its file record ``_audit/files``."""
    if not _is_delta(spark, env.files_path):
        return None
    bronze_path = env.table_path("bronze", pipeline.bronze.table)
    df = (
        spark.read.format("delta").load(env.files_path)
        .where((F.col(FILES.bronze_table) == F.lit(bronze_path)) & (F.col(FILES.status) == F.lit(str(FileStatus.UNREADABLE))))
        .orderBy(F.col(FILES.recorded_at).desc())
    )
    return [
        QuarantinedFile(
            path=safe_text(r[FILES.path], 300),
            size=safe_text(r[FILES.size]),
            error=safe_text(r[FILES.error], 600),
            run_id=safe_text(r[FILES.run_id]),
            at=safe_text(r[FILES.recorded_at]),
        )
        for r in df.limit(20).collect()
    ]


# --------------------------------------------------------------------------- the whole page


def build_report(
    spark: SparkSession,
    env: EnvConfig,
    pipelines: Sequence[PipelineConfig],
    *,
    runs: int = 20,
    now: datetime | None = None,
) -> Report:
    """Gather everything the page shows for ``pipelines`` in ``env``.

    Args:
        spark: the session.
        env: where the lakehouse is.
        pipelines: the pipelines to report on (one section each).
        runs: how many of the most recent runs the trends and the failed-run list cover.
        now: the page's "generated at" time (injected by tests).
    """
    from medallion.report.lake_gather import lake_views

    has_log = _is_delta(spark, env.run_log_path)
    by_pipeline = read_runs(spark, env.run_log_path, [p.dataset for p in pipelines], last=runs)
    now = now or utc_now()
    lake = lake_views(spark, env, pipelines, now=now)
    datasets = []
    for pipeline in pipelines:
        records = by_pipeline.get(pipeline.dataset, [])
        datasets.append(_dataset(spark, env, pipeline, records, runs=runs))
        datasets[-1].lake = lake.get(pipeline.dataset)
    return Report(env.name, env.lakehouse_root, now, runs, datasets, has_log)


def _dataset(
    spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, records: list[LayerRun], *, runs: int
) -> DatasetReport:
    latest = latest_per_layer(records)
    expectations = [e.name for e in pipeline.silver.expectations] if pipeline.silver else []
    trend = trends(records, last=runs, expectations=expectations)
    window = set(trend.run_ids)
    in_window = [r for r in records if r.run_id in window]
    silver = pipeline.silver
    graph = flow(
        bronze_table=pipeline.bronze.table,
        silver_table=silver.table if silver else None,
        dlq_table=silver.dlq if silver else None,
        gold_tables=[g.table for g in pipeline.gold],
        latest=latest,
    )
    dead = read_dead_letters(spark, env.table_path("silver", silver.dlq)) if silver else None
    starts = [r.started_at for r in in_window if r.started_at is not None]
    drift = read_schema_drift(
        spark, env.table_path("bronze", pipeline.bronze.table), since=min(starts) if starts else None, runs=in_window
    ) if records else []
    return DatasetReport(
        pipeline=pipeline.dataset,
        tables=pipeline.tables(env),
        latest=latest,
        flow=graph,
        trends=trend,
        failed=failed_runs(in_window),
        drift=drift,
        dead_letters=dead[0] if dead else None,
        dead_letter_samples=dead[1] if dead else [],
        checks=_read_checks(spark, env, pipeline),
        quarantined_files=_read_quarantined_files(spark, env, pipeline),
        runs_shown=len(trend.run_ids),
        dlq_table=silver.dlq if silver else None,
    )
