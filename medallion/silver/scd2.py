"""Silver history (``history: scd2``): every version of a key as a row with its validity interval.

The history table has the output columns, silver's audit columns and ``_valid_from`` (the version's
``sequence_by``), ``_valid_to`` (the next version's, or the delete's; null while current),
``_is_current`` and ``_is_deleted`` (the interval was ended by a delete of the key).

The history of a key is a function of *all* its events ever read (versions and deletes), whatever the
order they arrived in. So silver keeps them: each run appends its valid rows to ``{table}_events``
(an idempotent append), then recomputes the chains of the keys the batch touched from their events
(:func:`classify_events`, a pure transform) and MERGEs the result over those keys' rows (:func:`merge_history`):
rows that are unchanged stay, re-cut intervals are updated, new versions inserted, and rows a late
event made redundant deleted. A late, older version therefore lands in its place in the chain and its
neighbours' intervals are re-cut; it never becomes "current" by arriving last.

Chain rules, per key, events in ``sequence_by`` order (null first; equal sequences: the newest bronze
row wins, as in latest mode):

* a version *starts* a row unless the previous event is a version with the same tracked columns
  (``track_columns`` / ``ignore_columns``): an unchanged version adds no row;
* a delete *closes* the open interval (``_valid_to`` = the delete's sequence, ``_is_deleted``); a
  delete with no open interval (the key is already deleted, or not yet known) changes nothing but is
  kept among the events, so a version arriving later and older than it is closed by it;
* anything else is *superseded*.

Counts per batch row: ``rows_out`` = starts, ``rows_deleted`` = closes, ``rows_superseded`` = the rest.

Crash safety: the events append and the history MERGE carry the same idempotent ``(app id, bronze
version)``; the MERGE's commit is silver's watermark. A crash between them leaves the events table
ahead; the rerun re-reads that batch, the append is dropped by Delta, and the chains are recomputed
from the same events, so the result equals a clean run.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce

from delta.tables import DeltaTable
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from medallion.audit.outcome import RunContext
from medallion.clock import as_utc
from medallion.columns import (
    ACTION,
    BRONZE_VERSION,
    HISTORY_AUDIT,
    IN_BATCH,
    INGESTED_AT,
    IS_CURRENT,
    IS_DELETE,
    IS_DELETED,
    RECORD_HASH,
    ROLE,
    RUN_ID,
    SILVER_AUDIT,
    UPDATED_AT,
    VALID_FROM,
    VALID_TO,
)
from medallion.config import SilverConfig
from medallion.delta_table import CommitTag, append_idempotent, command_idempotent, create_table
from medallion.errors import RunError
from medallion.silver.merge import SOURCE, TARGET
from medallion.sql import quote_identifier

__all__ = ["HistorySpec", "HistoryCounts", "classify_events", "history_rows", "write_history"]

log = logging.getLogger(__name__)

START, CLOSE, SUPERSEDED = "start", "close", "superseded"
_DUPLICATE = "_duplicate"  # working: rank among events of one key with the same sequence
_TABLE_PROPERTIES = {"delta.enableChangeDataFeed": "true"}


@dataclass(frozen=True)
class HistorySpec:
    """What a history chain is built from.

    Attributes:
        keys: the key columns.
        sequence_by: the column ordering versions.
        columns: the output columns (keys and sequence_by among them).
        tracked: the columns whose change starts a new version.
        tiebreak: columns ordering events with an equal sequence, newest first.
    """

    keys: tuple[str, ...]
    sequence_by: str
    columns: tuple[str, ...]
    tracked: tuple[str, ...]
    tiebreak: tuple[str, ...] = (BRONZE_VERSION, INGESTED_AT, RECORD_HASH)

    @classmethod
    def of(cls, silver: SilverConfig) -> HistorySpec:
        return cls(tuple(silver.keys), silver.sequence_by, tuple(silver.columns), tuple(silver.tracked))

    @property
    def event_columns(self) -> tuple[str, ...]:
        """The events table's columns."""
        return (*self.columns, *SILVER_AUDIT, IS_DELETE)

    @property
    def history_columns(self) -> tuple[str, ...]:
        """The history table's columns."""
        return (*self.columns, *SILVER_AUDIT, *HISTORY_AUDIT)


def _col(name: str) -> Column:
    return F.col(quote_identifier(name))


def classify_events(spec: HistorySpec) -> Callable[[DataFrame], DataFrame]:
    """A pure transform: events (``event_columns``) -> the same rows with ``_role`` (start, close,
    superseded), and on ``start`` rows the interval (``_valid_from``, ``_valid_to``, ``_is_current``,
    ``_is_deleted``) computed over the starts and closes of the key.
    """
    keys = [_col(k) for k in spec.keys]
    seq = _col(spec.sequence_by)
    same_sequence = Window.partitionBy(*keys, seq).orderBy(*[_col(c).desc_nulls_last() for c in spec.tiebreak])
    in_order = Window.partitionBy(*keys).orderBy(seq.asc_nulls_first())
    tracked = F.struct(*[_col(c) for c in spec.tracked]) if spec.tracked else F.lit(0)

    def transform(events: DataFrame) -> DataFrame:
        ranked = events.withColumn(_DUPLICATE, F.row_number().over(same_sequence))
        live = ranked.where(F.col(_DUPLICATE) == 1)
        previous_delete = F.lag(F.col(IS_DELETE)).over(in_order)
        previous_tracked = F.lag(tracked).over(in_order)
        is_delete = F.col(IS_DELETE)
        role = (
            F.when(~is_delete & (previous_delete.isNull() | previous_delete | ~previous_tracked.eqNullSafe(tracked)), START)
            .when(is_delete & ~F.coalesce(previous_delete, F.lit(True)), CLOSE)
            .otherwise(SUPERSEDED)
        )
        classified = live.withColumn(ROLE, role)
        boundaries = classified.where(F.col(ROLE) != SUPERSEDED)
        next_sequence = F.lead(seq).over(in_order)
        next_is_delete = F.lead(F.col(IS_DELETE)).over(in_order)
        intervals = boundaries.select(
            "*",
            seq.alias(VALID_FROM),
            next_sequence.alias(VALID_TO),
            next_sequence.isNull().alias(IS_CURRENT),
            F.coalesce(next_is_delete, F.lit(False)).alias(IS_DELETED),
        )
        others = ranked.where(F.col(_DUPLICATE) > 1).withColumn(ROLE, F.lit(SUPERSEDED))
        others = others.unionByName(classified.where(F.col(ROLE) == SUPERSEDED))
        return intervals.unionByName(others, allowMissingColumns=True).drop(_DUPLICATE)

    return transform


def history_rows(spec: HistorySpec) -> Callable[[DataFrame], DataFrame]:
    """A pure transform: classified events -> the history rows (one per ``start``)."""

    def transform(classified: DataFrame) -> DataFrame:
        return classified.where(F.col(ROLE) == START).select(*[_col(c) for c in spec.history_columns])

    return transform


@dataclass(frozen=True)
class HistoryCounts:
    """What one history run did: batch rows by role, and the MERGE's metrics."""

    started: int
    closed: int
    superseded: int
    version: int | None
    merge: dict[str, int]


def write_history(
    spark: SparkSession,
    silver: SilverConfig,
    valid: DataFrame,
    *,
    history_path: str,
    events_path: str,
    app_id: str,
    txn_version: int,
    batch_versions: tuple[int, int],
    run: RunContext,
    hook: Callable[[str], None],
) -> HistoryCounts:
    """Record the batch's valid rows as events, recompute the touched keys' chains, MERGE them.

    Args:
        spark: the session.
        silver: the silver config (``history: scd2``).
        valid: the batch's valid rows with ``event_columns``.
        history_path: the history (silver) table.
        events_path: the events table.
        app_id: the idempotent-writer id; ``txn_version`` the batch's last bronze version.
        batch_versions: the bronze versions the batch read (its rows are counted).
        run: run id and clock.
        hook: called with ``"recorded"`` after the events append (a seam for crash tests).
    """
    spec = HistorySpec.of(silver)
    tag = CommitTag(run.run_id, "silver")
    events = valid.select(*[_col(c) for c in spec.event_columns])
    append_idempotent(events, events_path, app_id=app_id, txn_version=txn_version, tag=tag)
    hook("recorded")

    keys = [quote_identifier(k) for k in spec.keys]
    touched = events.select(*keys).distinct()
    first, last = batch_versions
    in_batch = F.col(BRONZE_VERSION).between(first, last)
    scope = (
        spark.read.format("delta").load(events_path).join(touched, list(spec.keys), "left_semi")
        .withColumn(IN_BATCH, in_batch)
    )
    classified = scope.transform(classify_events(spec)).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        row = classified.where(F.col(IN_BATCH)).agg(
            *[F.coalesce(F.sum(F.when(F.col(ROLE) == r, 1).otherwise(0)), F.lit(0)).alias(r) for r in (START, CLOSE, SUPERSEDED)]
        ).head()
        assert row is not None
        rows = classified.transform(history_rows(spec)).select(
            *[_col(c) for c in spec.history_columns if c not in (RUN_ID, UPDATED_AT)],
            F.lit(run.run_id).alias(RUN_ID),
            F.lit(as_utc(run.now)).cast("timestamp").alias(UPDATED_AT),
        ).select(*[_col(c) for c in spec.history_columns])
        version, merge = merge_history(
            spark, spec, rows, touched, path=history_path, app_id=app_id, txn_version=txn_version, tag=tag
        )
    finally:
        classified.unpersist()
    return HistoryCounts(int(row[START]), int(row[CLOSE]), int(row[SUPERSEDED]), version, merge)


def merge_history(
    spark: SparkSession,
    spec: HistorySpec,
    rows: DataFrame,
    touched: DataFrame,
    *,
    path: str,
    app_id: str,
    txn_version: int,
    tag: CommitTag,
) -> tuple[int, dict[str, int]]:
    """Make the history table's rows of the ``touched`` keys equal ``rows``, as one idempotent MERGE.

    Matched on keys + ``_valid_from``: a row whose interval, delete mark or content changed is updated;
    a new one inserted; a row of a touched key that the new chain no longer has is deleted.

    Returns:
        The commit's version and ``{"inserted", "updated", "deleted"}``.
    """
    create_table(spark, path, rows.schema, properties=_TABLE_PROPERTIES)

    def on(left: str, right: str) -> Column:
        conds = [F.col(f"{left}.{quote_identifier(k)}") == F.col(f"{right}.{quote_identifier(k)}") for k in spec.keys]
        conds.append(F.col(f"{left}.{VALID_FROM}").eqNullSafe(F.col(f"{right}.{VALID_FROM}")))
        return reduce(lambda a, b: a & b, conds)

    def attempt() -> None:
        current = spark.read.format("delta").load(path)
        keys = [quote_identifier(k) for k in spec.keys]
        old = current.join(touched, list(spec.keys), "left_semi").select(*keys, VALID_FROM).alias("o")
        gone = old.join(rows.alias("n"), on("o", "n"), "left_anti").withColumn(ACTION, F.lit("delete"))
        source = rows.withColumn(ACTION, F.lit("upsert")).unionByName(gone, allowMissingColumns=True)
        t = lambda c: F.col(f"{TARGET}.{quote_identifier(c)}")  # noqa: E731
        s = lambda c: F.col(f"{SOURCE}.{quote_identifier(c)}")  # noqa: E731
        upsert = s(ACTION) == F.lit("upsert")
        same = t(VALID_TO).eqNullSafe(s(VALID_TO)) & t(IS_DELETED).eqNullSafe(s(IS_DELETED)) & t(RECORD_HASH).eqNullSafe(s(RECORD_HASH))
        values = {quote_identifier(c): s(c) for c in spec.history_columns}
        (
            DeltaTable.forPath(spark, path).alias(TARGET)
            .merge(source.alias(SOURCE), on(TARGET, SOURCE))
            .whenMatchedDelete(condition=~upsert)
            .whenMatchedUpdate(condition=upsert & ~same, set=values)
            .whenNotMatchedInsert(condition=upsert, values=values)
            .execute()
        )

    commit = command_idempotent(spark, path, attempt, app_id=app_id, txn_version=txn_version, tag=tag)
    if commit is None:
        raise RunError(
            f"history MERGE into {path} was not committed: transaction {app_id}@{txn_version} was already applied "
            "(another run processed the same input)"
        )
    merge = {
        "inserted": commit.metric("numTargetRowsInserted"),
        "updated": commit.metric("numTargetRowsUpdated"),
        "deleted": commit.metric("numTargetRowsDeleted"),
        "source_rows": commit.metric("numSourceRows"),
    }
    log.info("history MERGE into %s committed version %s: %s", path, commit.version, merge)
    return commit.version, merge

