"""Deletes in a latest-mode silver table (``delete_when``), and the tombstones that keep them.

A row for which ``delete_when`` is true deletes its key at its ``sequence_by`` value; newest wins for
deletes as for updates. The silver MERGE (:mod:`medallion.silver.merge`, ``delete_column``) removes the key
when the delete is not older than silver's row. What it cannot see is the past: once the key has left
silver, an *older* upsert arriving later would look like a new key. So each run first records, per
deleted key, the newest delete's sequence in ``{table}_tombstones`` (keys, ``sequence_by``,
``_deleted_at``, ``_run_id``), and the MERGE inserts or updates a key only when the upsert is strictly
newer than its tombstone (``floor_column``).

How long tombstones are kept: exactly as long as the key stays deleted. A newer version of the key
removes its tombstone in the same run (silver's row then protects the key on its own), so the table
holds at most one row per currently deleted key and never needs a retention setting.

Both writes carry the same idempotent ``(app id, bronze version)`` as silver's MERGE. The tombstone
MERGE goes first; the silver MERGE gives the same result whether it sees the tombstones from before
or after that write (a tombstone only moves to a delete that is this batch's newest event of its key,
and only goes when this batch's newest event is a newer upsert), so a crash between the two and a
rerun is the same as a clean run.
"""
from __future__ import annotations

import logging

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from medallion.audit.outcome import RunContext
from medallion.clock import as_utc
from medallion.columns import DELETED_AT, IS_DELETE, RUN_ID, TOMBSTONE_SEQUENCE
from medallion.config import SilverConfig
from medallion.delta_table import CommitTag, command_idempotent, create_table
from medallion.silver.merge import SOURCE, TARGET
from medallion.sql import quote_identifier

__all__ = ["delete_flag", "record_tombstones", "with_tombstones"]

log = logging.getLogger(__name__)


def delete_flag(silver: SilverConfig) -> F.Column:
    """``_is_delete``: ``delete_when`` over the output columns (null counts as false)."""
    if silver.delete_when is None:
        return F.lit(False).alias(IS_DELETE)
    return F.coalesce(F.expr(silver.delete_when), F.lit(False)).alias(IS_DELETE)


def _c(alias: str, name: str) -> F.Column:
    return F.col(f"{alias}.{quote_identifier(name)}")


def record_tombstones(
    spark: SparkSession,
    silver: SilverConfig,
    winners: DataFrame,
    *,
    path: str,
    silver_path: str,
    app_id: str,
    txn_version: int,
    run: RunContext,
) -> dict[str, int]:
    """MERGE this batch's newest event per key (``winners``: keys, sequence, ``_is_delete``) into the
    tombstones: a newer delete records or moves the key's tombstone, a newer upsert removes it. A
    delete older than silver's row of its key does nothing, and leaves no tombstone.

    Returns:
        ``{"recorded": n, "moved": n, "removed": n}`` from the commit's metrics (zeros when the table
        does not exist and the batch has no delete, or when a rerun finds the commit already made).
    """
    keys, seq = list(silver.keys), silver.sequence_by
    source = winners.select(*[quote_identifier(c) for c in (*keys, seq)], F.col(IS_DELETE))
    if DeltaTable.isDeltaTable(spark, silver_path):  # read before silver's MERGE: the same on a rerun
        live = spark.read.format("delta").load(silver_path).select(
            *[quote_identifier(k) for k in keys], F.col(quote_identifier(seq)).alias(TOMBSTONE_SEQUENCE)
        )
        overtaken = F.col(IS_DELETE) & (F.col(TOMBSTONE_SEQUENCE) > F.col(quote_identifier(seq)))
        source = source.join(live, keys, "left").where(~F.coalesce(overtaken, F.lit(False))).drop(TOMBSTONE_SEQUENCE)
    tag = CommitTag(run.run_id, "silver", {"tombstones": True})
    if not DeltaTable.isDeltaTable(spark, path):
        if source.where(F.col(IS_DELETE)).isEmpty():
            return {"recorded": 0, "moved": 0, "removed": 0}
        schema = source.drop(IS_DELETE).select(
            "*", F.lit(None).cast("timestamp").alias(DELETED_AT), F.lit(None).cast("string").alias(RUN_ID)
        ).schema
        create_table(spark, path, schema)
    on = _c(TARGET, keys[0]) == _c(SOURCE, keys[0])
    for key in keys[1:]:
        on = on & (_c(TARGET, key) == _c(SOURCE, key))
    s_seq, t_seq = _c(SOURCE, seq), _c(TARGET, seq)
    newer = s_seq > t_seq
    is_delete = _c(SOURCE, IS_DELETE)
    stamp = {DELETED_AT: F.lit(as_utc(run.now)).cast("timestamp"), RUN_ID: F.lit(run.run_id)}
    values = {quote_identifier(c): _c(SOURCE, c) for c in (*keys, seq)} | stamp

    def merge() -> None:
        (
            DeltaTable.forPath(spark, path).alias(TARGET)
            .merge(source.alias(SOURCE), on)
            .whenMatchedUpdate(condition=is_delete & newer, set={quote_identifier(seq): s_seq} | stamp)
            .whenMatchedDelete(condition=~is_delete & newer)
            .whenNotMatchedInsert(condition=is_delete, values=values)
            .execute()
        )

    commit = command_idempotent(spark, path, merge, app_id=app_id, txn_version=txn_version, tag=tag)
    if commit is None:  # a rerun of a batch whose tombstones were already committed
        log.info("tombstones %s: transaction %s@%s already applied", path, app_id, txn_version)
        return {"recorded": 0, "moved": 0, "removed": 0}
    return {
        "recorded": commit.metric("numTargetRowsInserted"),
        "moved": commit.metric("numTargetRowsUpdated"),
        "removed": commit.metric("numTargetRowsDeleted"),
    }


def with_tombstones(spark: SparkSession, silver: SilverConfig, path: str) -> DataFrame | None:
    """The tombstones as ``keys + _tombstone_sequence`` for a left join, or None when there are none."""
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    return spark.read.format("delta").load(path).select(
        *[quote_identifier(k) for k in silver.keys], F.col(quote_identifier(silver.sequence_by)).alias(TOMBSTONE_SEQUENCE)
    )
