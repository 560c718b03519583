"""The dead-letter table: its row layout, its status columns, and bringing an older table up to date.

Silver appends every quarantined row to ``{lakehouse_root}/silver/{silver.dlq}``: the original bronze
columns, the failed rules, the dead-letter audit columns, and a status from the table's creation on
(``_dlq_status`` = ``pending``; ``replayed`` / ``discarded`` once a ``medallion dlq`` command acts on
it, with the run that changed it and when; a discarded row also records why and by whom).

A table written before the status columns existed (or with a null status, which meant pending) is
migrated on its next write, by silver or by a ``medallion dlq`` command (:func:`migrate_status`).
Readers of a table not yet migrated see a missing or null status as pending (:func:`status_of`).

Example:
    >>> dead = prepared.where(F.col(QUARANTINED)).select(*dead_letter_columns(run))
"""
from __future__ import annotations

import logging
from enum import StrEnum

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from medallion.audit.outcome import RunContext
from medallion.clock import as_utc
from medallion.columns import (
    BRONZE_VERSION,
    DLQ_DISCARD_REASON,
    DLQ_DISCARDED_BY,
    DLQ_STATUS,
    DLQ_STATUS_AT,
    DLQ_STATUS_COLUMNS,
    DLQ_STATUS_RUN_ID,
    FAILED_RULES,
    QUARANTINE_RUN_ID,
    QUARANTINED_AT,
    SOURCE_STRUCT,
)
from medallion.sql import quote_identifier

__all__ = ["DlqStatus", "STATUS_TYPES", "dead_letter_columns", "status_of", "with_status_columns", "migrate_status"]

log = logging.getLogger(__name__)

#: The status columns and their SQL types, in the table's column order.
STATUS_TYPES = {
    DLQ_STATUS: "STRING",
    DLQ_STATUS_RUN_ID: "STRING",
    DLQ_STATUS_AT: "TIMESTAMP",
    DLQ_DISCARD_REASON: "STRING",
    DLQ_DISCARDED_BY: "STRING",
}
assert tuple(STATUS_TYPES) == DLQ_STATUS_COLUMNS


class DlqStatus(StrEnum):
    """The status of one dead-letter row."""

    PENDING = "pending"
    REPLAYED = "replayed"
    DISCARDED = "discarded"


def dead_letter_columns(run: RunContext) -> list[Column]:
    """The columns of a dead-letter row, over silver's checked batch: the original bronze columns (the
    ``_bronze`` struct), then the reasons, the dead-letter audit columns and the status (``pending``)."""
    return [
        F.col(f"{SOURCE_STRUCT}.*"),
        F.col(FAILED_RULES),
        F.col(BRONZE_VERSION),
        F.lit(run.run_id).alias(QUARANTINE_RUN_ID),
        F.lit(as_utc(run.now)).cast("timestamp").alias(QUARANTINED_AT),
        F.lit(str(DlqStatus.PENDING)).alias(DLQ_STATUS),
        *[F.lit(None).cast(kind).alias(name) for name, kind in STATUS_TYPES.items() if name != DLQ_STATUS],
    ]


def status_of() -> Column:
    """A row's effective status (null, in a table not yet migrated, = pending)."""
    return F.coalesce(F.col(DLQ_STATUS), F.lit(str(DlqStatus.PENDING)))


def with_status_columns(df: DataFrame) -> DataFrame:
    """``df`` with every status column (missing ones added as nulls: a table not yet migrated)."""
    missing = [F.lit(None).cast(kind).alias(name) for name, kind in STATUS_TYPES.items() if name not in df.columns]
    return df.select("*", *missing) if missing else df


def migrate_status(spark: SparkSession, path: str) -> None:
    """Bring an existing dead-letter table up to date: add the status columns it lacks, and set a null
    status to ``pending``. Idempotent; commits nothing when the table is current (a null status is found
    from file statistics, so a current table's files are skipped, not read)."""
    if not DeltaTable.isDeltaTable(spark, path):
        return
    existing = set(spark.read.format("delta").load(path).columns)
    missing = [f"{quote_identifier(n)} {t}" for n, t in STATUS_TYPES.items() if n not in existing]
    table = f"delta.{quote_identifier(path)}"
    if missing:
        spark.sql(f"ALTER TABLE {table} ADD COLUMNS ({', '.join(missing)})")
        log.info("dead-letter table %s: added status columns %s", path, missing)
    elif spark.read.format("delta").load(path).where(F.col(DLQ_STATUS).isNull()).limit(1).count() == 0:
        return
    DeltaTable.forPath(spark, path).update(F.col(DLQ_STATUS).isNull(), {DLQ_STATUS: F.lit(str(DlqStatus.PENDING))})
    log.info("dead-letter table %s: null statuses set to %s", path, DlqStatus.PENDING)
