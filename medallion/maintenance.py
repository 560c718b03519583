"""Delta table maintenance: compaction, Z-ordering and VACUUM.

``medallion maintain`` calls :func:`maintain`, which compacts (``OPTIMIZE``) and vacuums every table a
pipeline writes, with the retention from the environment file (``maintenance.vacuum_retention_hours``,
default 168 hours = 7 days). A retention below Delta's safety limit (168 hours) would let VACUUM delete
files that a running reader or a time-travel query still needs, so it is refused unless explicitly
allowed (``allow_unsafe`` / ``maintenance.allow_unsafe_retention``).

:func:`optimize_zorder` runs ``OPTIMIZE`` (with ``ZORDER BY`` when given); the gold layer calls it after
a write only where that can pay, which is gold's own decision (:mod:`medallion.gold.zorder`).

Example:
    >>> maintain(spark, env, pipeline)                      # retention from the environment file
    >>> maintain(spark, env, pipeline, retention_hours=24, allow_unsafe=True)
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import SparkSession

from medallion.config import EnvConfig, PipelineConfig
from medallion.errors import ConfigError, RunError
from medallion.session import session_conf
from medallion.sql import quote_identifier

__all__ = [
    "SAFE_RETENTION_HOURS",
    "maintain",
    "optimize_zorder",
    "check_retention",
]

log = logging.getLogger(__name__)

SAFE_RETENTION_HOURS = 168
"""Delta's default safety limit for VACUUM (``delta.deletedFileRetentionDuration`` = 7 days)."""

_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


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
