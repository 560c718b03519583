"""Delta table maintenance: compaction, Z-ordering and VACUUM.

``medallion maintain`` calls :func:`maintain`, which compacts (``OPTIMIZE``) and vacuums every table a
pipeline writes, with the retention from the environment file (``maintenance.vacuum_retention_hours``,
default 168 hours = 7 days). A retention below Delta's safety limit (168 hours) would let VACUUM delete
files that a running reader or a time-travel query still needs, so it is refused unless explicitly
allowed (``allow_unsafe`` / ``maintenance.allow_unsafe_retention``).

The gold layer Z-orders a table after a write only where that can pay (:func:`zorder_decision`).
Z-ordering sorts a partition's rows across several files so readers skip files by the Z-order columns'
min/max. A partition whose new files sum to no more than one OPTIMIZE output file
(``spark.databricks.delta.optimize.maxFileSize``, default 1 GiB: :func:`zorder_threshold`) would be
rewritten into one file, which no reader can skip within, so the rewrite gains nothing. The files and
bytes per partition are taken from the write's own commit (its ``add`` actions, read on the driver with
no Spark job: :func:`files_per_partition`).

Example:
    >>> maintain(spark, env, pipeline)                      # retention from the environment file
    >>> maintain(spark, env, pipeline, retention_hours=24, allow_unsafe=True)
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import SparkSession

from medallion.config import EnvConfig, PipelineConfig
from medallion.delta_table import commit_actions
from medallion.errors import ConfigError, RunError
from medallion.session import session_conf
from medallion.sql import quote_identifier

__all__ = [
    "SAFE_RETENTION_HOURS",
    "maintain",
    "optimize_zorder",
    "check_retention",
    "zorder_decision",
    "zorder_threshold",
    "files_per_partition",
]

log = logging.getLogger(__name__)

SAFE_RETENTION_HOURS = 168
"""Delta's default safety limit for VACUUM (``delta.deletedFileRetentionDuration`` = 7 days)."""

_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
_OPTIMIZE_MAX_FILE_SIZE = "spark.databricks.delta.optimize.maxFileSize"
_DEFAULT_OPTIMIZE_MAX_FILE_SIZE = 1024**3  # Delta's default


def optimize_zorder(
    spark: SparkSession, path: str, columns: Sequence[str], *, where: str | None = None
) -> dict[str, Any]:
    """``OPTIMIZE`` the Delta table at ``path`` ``ZORDER BY columns`` (optionally only partitions ``where``).

    Args:
        spark: the session.
        path: the table's location.
        columns: the Z-order columns (quoted here; must not be partition columns).
        where: a predicate over partition columns restricting which partitions are rewritten.

    Returns:
        ``{"files_added": n, "files_removed": n}`` from Delta's OPTIMIZE metrics.
    """
    builder = DeltaTable.forPath(spark, path).optimize()
    if where:
        builder = builder.where(where)
    if columns:
        out = builder.executeZOrderBy(*[quote_identifier(c) for c in columns])
    else:
        out = builder.executeCompaction()
    return _optimize_metrics(out.select("metrics").first())


def _optimize_metrics(row: Any) -> dict[str, Any]:
    if row is None or row["metrics"] is None:
        return {"files_added": 0, "files_removed": 0}
    metrics = row["metrics"]
    return {"files_added": int(metrics["numFilesAdded"] or 0), "files_removed": int(metrics["numFilesRemoved"] or 0)}


def zorder_decision(partitions: dict[str, tuple[int, int]], threshold_bytes: int) -> dict[str, Any]:
    """Whether ``OPTIMIZE ZORDER`` can pay on the files a write just added.

    Args:
        partitions: per partition (any key) of the rewritten scope, ``(files, bytes)`` written.
        threshold_bytes: the size of one OPTIMIZE output file: a partition at or below it would be
            rewritten into a single file, which readers cannot skip within.

    Returns:
        ``{"run", "reason", "files", "bytes", "partitions", "partitions_worth_it", "threshold_bytes"}``;
        ``run`` is true when at least one partition holds more than one file and more than the threshold.
    """
    files = sum(f for f, _ in partitions.values())
    size = sum(b for _, b in partitions.values())
    worth = sum(1 for f, b in partitions.values() if f > 1 and b > threshold_bytes)
    if worth:
        reason = f"{worth} partition(s) hold more than one file and more than {threshold_bytes} bytes"
    elif files <= len(partitions):
        reason = "every rewritten partition fits in one file"
    else:
        reason = f"every rewritten partition fits in one OPTIMIZE output file ({threshold_bytes} bytes)"
    return {"run": worth > 0, "reason": reason, "files": files, "bytes": size, "partitions": len(partitions),
            "partitions_worth_it": worth, "threshold_bytes": threshold_bytes}


def zorder_threshold(spark: SparkSession) -> int:
    """The size in bytes of one OPTIMIZE output file (``spark.databricks.delta.optimize.maxFileSize``;
    Delta's default, 1 GiB, when it is unset or not a number)."""
    value = spark.conf.get(_OPTIMIZE_MAX_FILE_SIZE, None)
    try:
        return int(value) if value is not None else _DEFAULT_OPTIMIZE_MAX_FILE_SIZE
    except ValueError:
        log.warning("%s=%r is not a number of bytes; using %d", _OPTIMIZE_MAX_FILE_SIZE, value,
                    _DEFAULT_OPTIMIZE_MAX_FILE_SIZE)
        return _DEFAULT_OPTIMIZE_MAX_FILE_SIZE


def files_per_partition(spark: SparkSession, path: str, version: int) -> dict[str, tuple[int, int]]:
    """``{partition: (files, bytes)}`` of the files commit ``version`` added, read from its log entry.

    The commit of an overwrite (whole table or ``replaceWhere``) adds exactly the files of the rewritten
    scope, so this is the scope OPTIMIZE would rewrite, read on the driver without a Spark job.
    """
    out: dict[str, tuple[int, int]] = {}
    for action in commit_actions(spark, path, version) or ():
        add = action.get("add")
        if add is not None:
            key = json.dumps(add.get("partitionValues") or {}, sort_keys=True)
            files, size = out.get(key, (0, 0))
            out[key] = (files + 1, size + int(add.get("size", 0)))
    return out


def check_retention(env: EnvConfig, retention_hours: int | None = None, allow_unsafe: bool = False) -> int:
    """The VACUUM retention to use, refusing one below Delta's safety limit unless allowed.

    Args:
        env: the environment (``maintenance.vacuum_retention_hours``, ``maintenance.allow_unsafe_retention``).
        retention_hours: an explicit retention overriding the environment file.
        allow_unsafe: allow a retention below :data:`SAFE_RETENTION_HOURS`.

    Raises:
        ConfigError: the retention is negative, or below the safety limit without an override.
    """
    hours = env.maintenance.vacuum_retention_hours if retention_hours is None else retention_hours
    key = "maintenance.vacuum_retention_hours" if retention_hours is None else "--retention-hours"
    if hours < 0:
        raise ConfigError(f"VACUUM retention must not be negative, got {hours}", key=key)
    if hours < SAFE_RETENTION_HOURS and not (allow_unsafe or env.maintenance.allow_unsafe_retention):
        raise ConfigError(
            f"VACUUM retention of {hours} hours is below Delta's safety limit of {SAFE_RETENTION_HOURS} hours "
            "(files still needed by running readers or time travel could be deleted); "
            "set maintenance.allow_unsafe_retention: true or pass --allow-unsafe-retention to override",
            key=key,
        )
    return hours


def maintain(
    spark: SparkSession,
    env: EnvConfig,
    pipeline: PipelineConfig,
    *,
    retention_hours: int | None = None,
    allow_unsafe: bool = False,
) -> list[dict[str, Any]]:
    """Compact and VACUUM every table of the pipeline; tables not created yet are skipped.

    Args:
        spark: the session.
        env: the environment (table locations and retention settings).
        pipeline: the pipeline whose tables (``PipelineConfig.tables``) are maintained.
        retention_hours: overrides ``maintenance.vacuum_retention_hours``.
        allow_unsafe: allow a retention below Delta's safety limit (168 hours).

    Returns:
        One dict per table: ``table``, ``path``, ``status`` (``maintained`` | ``skipped``),
        ``retention_hours``, ``files_added`` / ``files_removed`` (compaction),
        ``files_vacuumed`` (when Delta logged it), ``version`` (after maintenance).

    Raises:
        ConfigError: the retention is refused (before any table is touched).
        RunError: compaction or VACUUM of a table failed (tables before it were maintained).
    """
    hours = check_retention(env, retention_hours, allow_unsafe)
    unsafe = hours < SAFE_RETENTION_HOURS
    report: list[dict[str, Any]] = []
    if unsafe:
        log.warning("VACUUM retention %s hours is below the %s-hour safety limit (overridden)", hours, SAFE_RETENTION_HOURS)
    with session_conf(spark, {_RETENTION_CHECK: "false"} if unsafe else {}):
        for name, path in pipeline.tables(env).items():
            entry: dict[str, Any] = {"table": name, "path": path, "retention_hours": hours}
            if not DeltaTable.isDeltaTable(spark, path):
                log.info("maintain %s: no table at %s yet; skipped", name, path)
                report.append({**entry, "status": "skipped", "reason": "table does not exist"})
                continue
            try:
                compaction = optimize_zorder(spark, path, [])
                table = DeltaTable.forPath(spark, path)
                table.vacuum(float(hours))
                last = table.history(1).select("version", "operation", "operationMetrics").first()
            except (AnalysisException, CapturedException, Py4JJavaError) as err:
                raise RunError(f"maintenance of {name} at {path} failed: {str(err).strip().splitlines()[0]}") from err
            vacuumed = None
            if last is not None and last["operation"] == "VACUUM END":
                vacuumed = int((last["operationMetrics"] or {}).get("numDeletedFiles", 0))
            report.append(
                {
                    **entry,
                    "status": "maintained",
                    **compaction,
                    "files_vacuumed": vacuumed,
                    "version": int(last["version"]) if last is not None else None,
                }
            )
            log.info(
                "maintain %s: compaction +%s/-%s files, vacuum (%s h) deleted %s file(s)",
                name, compaction["files_added"], compaction["files_removed"], hours, vacuumed,
            )
    return report
