"""Silver: bronze rows cleansed, checked, deduplicated and MERGEd newest-wins, exactly once.

One run:

1. **Plan the input.** Silver consumes bronze by table version. The last bronze version applied is
   the ``txnVersion`` of silver's own MERGE commit (Delta idempotent writes, app id
   ``medallion.silver.<bronze table>``), so the watermark and the data move in one commit. The run
   reads bronze's change data feed from the next version to the latest one.
2. **Cleanse and check** (:mod:`medallion.silver.expectations`): the ``columns:`` expressions, every expectation
   in one pass, the original bronze row kept alongside; then rank the versions of each key.
3. **Count once**: the prepared frame is persisted and summarised by one aggregation. A violated
   ``fail`` rule or ``max_quarantine_fraction`` raises :class:`~medallion.errors.ExpectationFailed`
   here, before anything is written.
4. **Dead-letter** the quarantined rows (original bronze columns + ``_failed_rules``,
   ``_bronze_version``, ``_quarantine_run_id``, ``_quarantined_at``) as an idempotent append carrying
   the same ``(app id, bronze version)``.
5. **MERGE** the newest valid row of each key into silver (:mod:`medallion.silver.merge`), committing the
   watermark.

Crash safety: a crash before step 4 leaves nothing. A crash between steps 4 and 5 leaves the
dead-letter table one batch ahead of silver; the next run sees that and re-processes exactly that
batch's bronze versions (not the newer ones), skipping the dead-letter append it already made, then
MERGEs. A crash after step 5 leaves everything committed. Rows are never skipped nor applied twice.

Accounting (:mod:`medallion.audit.accounting`): ``rows_in = rows_out + rows_deleted + rows_quarantined +
rows_superseded``, where ``rows_out`` is rows inserted + updated by the MERGE (Delta's metrics),
``rows_deleted`` the keys ``delete_when`` removed, and ``rows_superseded`` counts older versions of a
key within the batch plus rows the MERGE left unapplied because silver already held a newer (or the
identical) version.

The steps live beside this module: the bronze range (:mod:`~medallion.silver.plan`), the prepared
frame (:mod:`~medallion.silver.prepare`), the dead-letter rows (:mod:`~medallion.silver.dead_letters`).
"""
from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from delta.tables import DeltaTable
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from medallion.audit.outcome import LayerOutcome, RunContext, Status
from medallion.columns import (
    IS_DELETE,
    QUARANTINED,
    RANK,
    TOMBSTONE_SEQUENCE,
)
from medallion.config import EnvConfig, PipelineConfig, SilverConfig, join_path
from medallion.delta_table import CommitTag, append_idempotent, committed_txn_version, latest_version
from medallion.errors import ConfigError, RunError
from medallion.security.sandbox import sandboxed
from medallion.session import session_conf
from medallion.silver.dead_letters import dead_letter_columns, migrate_status
from medallion.silver.deletes import record_tombstones, with_tombstones
from medallion.silver.expectations import batch_outcome, enforce_limits, quality_aggregates
from medallion.silver.merge import merge_into
from medallion.silver.plan import BronzeRange, plan_range, read_bronze_changes
from medallion.silver.prepare import merge_spec, prepare
from medallion.silver.scd2 import write_history
from medallion.sql import quote_identifier

__all__ = ["run_silver", "app_id", "table_properties"]

log = logging.getLogger(__name__)

_TABLE_PROPERTIES = {"delta.enableChangeDataFeed": "true"}
_DELETION_VECTORS = "delta.enableDeletionVectors"
# While a batch runs: casts that fail give null (the contract, whatever the session's ANSI setting); the
# batch, persisted once and read three times within seconds, is cached without the columnar cache's
# compression (84 -> 93 MiB at 1M rows, silver ~13 % faster: BENCHMARKS.md).
_BATCH_SETTINGS = {"spark.sql.ansi.enabled": "false", "spark.sql.inMemoryColumnarStorage.compressed": "false"}


def table_properties(silver: SilverConfig) -> dict[str, str]:
    """The silver table's properties: change data feed, plus deletion vectors when opted in."""
    return {**_TABLE_PROPERTIES, **({_DELETION_VECTORS: "true"} if silver.deletion_vectors else {})}


def _enable_deletion_vectors(spark: SparkSession, path: str) -> None:
    """Opted in after the table was created: set the property once (it raises the table's protocol)."""
    if not DeltaTable.isDeltaTable(spark, path):
        return  # created with the property by the first MERGE
    properties = DeltaTable.forPath(spark, path).detail().select("properties").first()[0] or {}
    if properties.get(_DELETION_VECTORS) != "true":
        spark.sql(f"ALTER TABLE delta.{quote_identifier(path)} SET TBLPROPERTIES ('{_DELETION_VECTORS}' = 'true')")
        log.info("silver table %s: deletion vectors enabled", path)


#: Hook called with a step name ("planned", "checked", "dead_lettered", "merged"): a seam for tests.
StepHook = Callable[[str], None]


def app_id(pipeline: PipelineConfig) -> str:
    """The idempotent-writer id of silver's commits: which bronze table's versions they consume."""
    return f"medallion.silver.{pipeline.bronze.table}"


def run_silver(
    spark: SparkSession,
    env: EnvConfig,
    pipeline: PipelineConfig,
    run: RunContext,
    *,
    on_step: StepHook | None = None,
) -> LayerOutcome:
    """Run the silver layer of ``pipeline`` (see the module docstring), then its declared ``checks:``
    on the table after the MERGE (:func:`medallion.checks.declared_checks.check_silver`; a failed ``fail``
    check raises ``ChecksFailed``)."""
    from medallion.checks.declared_checks import check_silver

    return check_silver(spark, env, pipeline, run, _run_silver(spark, env, pipeline, run, on_step))


def _run_silver(spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, run: RunContext, on_step: StepHook | None
                ) -> LayerOutcome:
    """Run the silver layer of ``pipeline`` (see the module docstring).

    Args:
        spark: the session.
        env: where the tables live.
        pipeline: the pipeline; must declare ``silver``.
        run: the run id and clock (``_updated_at`` / ``_quarantined_at``).
        on_step: called after each step with its name; tests use it to simulate a crash.

    Returns:
        The outcome, with status ``skipped`` when bronze had nothing new.

    Raises:
        ExpectationFailed: a ``fail`` rule was violated or the quarantine threshold was exceeded
            (nothing was written); it carries the counts as its ``partial`` outcome.
        RunError: bronze is missing or was re-created, or a write failed.
        ConfigError: a ``columns:`` or ``expectations:`` expression does not resolve against bronze.
    """
    silver = pipeline.silver
    if silver is None:
        raise ConfigError("the pipeline declares no silver section", key="silver")
    hook = on_step or (lambda _step: None)
    bronze_path = env.table_path("bronze", pipeline.bronze.table)
    silver_path = env.table_path("silver", silver.table)
    dlq_path = env.table_path("silver", silver.dlq)
    writer = app_id(pipeline)

    if not DeltaTable.isDeltaTable(spark, bronze_path):
        raise RunError(f"bronze table {bronze_path} does not exist: run the bronze layer first")
    batch = plan_range(
        latest_version(spark, bronze_path),
        applied=committed_txn_version(spark, silver_path, writer),
        dead_lettered=_side_watermark(spark, env, silver, writer),
    )
    details: dict[str, Any] = {}
    if not batch.empty:
        details["bronze_versions"] = [batch.start, batch.end]
    if batch.resumed:
        log.warning(
            "silver %s: resuming an interrupted batch (bronze versions %s..%s already dead-lettered)",
            silver.table, batch.start, batch.end,
        )
        details["resumed"] = True
    if batch.empty:
        log.info("silver %s: nothing new in bronze (at version %s)", silver.table, batch.end)
        # when empty, end is the version silver already holds
        return LayerOutcome(status=Status.SKIPPED, source_version=batch.end, details=details)
    hook("planned")

    with session_conf(spark, _BATCH_SETTINGS):
        bronze = read_bronze_changes(spark, bronze_path, batch.start, batch.end)
        prepared = bronze.transform(prepare(silver, run_id=run.run_id, now=run.now, letters_only=True))
        sandboxed(prepared, "silver", [bronze], per_row=True)  # the analysed plan, before any write
        prepared.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            return _run_batch(spark, silver, prepared, run, batch, details, hook=hook,
                              dlq_path=dlq_path, silver_path=silver_path, writer=writer)
        finally:
            prepared.unpersist()


def _run_batch(
    spark: SparkSession,
    silver: SilverConfig,
    prepared: DataFrame,
    run: RunContext,
    batch: BronzeRange,
    details: dict[str, Any],
    *,
    hook: StepHook,
    dlq_path: str,
    silver_path: str,
    writer: str,
) -> LayerOutcome:
    tag = CommitTag(run.run_id, "silver")
    summary = _summarise(prepared, silver)
    rule_counts = {e.name: summary[f"rule:{e.name}"] for e in silver.expectations}
    details.update(expectations=rule_counts, null_key=summary["null_key"], superseded_in_batch=summary["superseded_in_batch"])
    # the facts so far: a failed limit check carries them; the rest go in once, at the end
    counted = batch_outcome(summary, source_version=batch.end, details=dict(details))
    if counted.rows_in == 0:
        log.info("silver %s: bronze versions hold no new rows", silver.table)
        return replace(counted, status=Status.SKIPPED)
    enforce_limits(silver, rule_counts, counted)
    hook("checked")

    if counted.rows_quarantined and not batch.resumed:  # a resumed batch's dead letters are committed
        migrate_status(spark, dlq_path)  # a table from before the status columns, brought up to date
        dlq = prepared.where(F.col(QUARANTINED)).select(*dead_letter_columns(run))
        commit = append_idempotent(dlq, dlq_path, app_id=writer, txn_version=batch.end, tag=tag)
        details["dlq_version"] = None if commit is None else commit.version
    details["dlq_rows"] = counted.rows_quarantined
    hook("dead_lettered")

    if silver.history == "scd2":
        return _write_history(spark, silver, prepared, run, batch, counted, summary, details, hook=hook,
                              silver_path=silver_path, writer=writer)
    spec = merge_spec(silver)
    if silver.deletion_vectors:
        _enable_deletion_vectors(spark, silver_path)
    source = prepared.where(~F.col(QUARANTINED) & (F.col(RANK) == 1)).select(*[quote_identifier(c) for c in spec.columns])
    if silver.delete_when is not None:
        source = _apply_tombstones(spark, silver, prepared, source, run, batch, details, hook=hook, writer=writer,
                                   path=_sibling(silver_path, silver.tombstone_table), silver_path=silver_path)
    metrics = merge_into(
        spark, silver_path, source, spec,
        app_id=writer, txn_version=batch.end, tag=tag, properties=table_properties(silver),
    )
    details["merge"] = {
        "source_rows": metrics.source_rows,
        "inserted": metrics.inserted,
        "updated": metrics.updated,
        "unapplied": metrics.unapplied,
    }
    if spec.delete_column is not None:
        details["merge"]["deleted"] = metrics.deleted
    outcome = replace(
        counted,
        rows_out=metrics.inserted + metrics.updated,
        rows_deleted=metrics.deleted,
        rows_superseded=summary["superseded_in_batch"] + metrics.unapplied,
        target_version=metrics.version,
        details=details,
    )
    hook("merged")
    if metrics.source_rows != summary["merge_rows"]:
        log.error(
            "silver %s: MERGE read %s source rows, expected %s; the run's counts do not add up",
            silver.table, metrics.source_rows, summary["merge_rows"],
        )
    log.info(
        "silver %s: %s in = %s merged (%s inserted, %s updated) + %s quarantined + %s superseded; %s warned",
        silver.table, outcome.rows_in, outcome.rows_out, metrics.inserted, metrics.updated,
        outcome.rows_quarantined, outcome.rows_superseded, outcome.rows_warned,
    )
    return outcome


def _sibling(silver_path: str, table: str) -> str:
    """Another silver table's path: next to silver's own, as ``EnvConfig.table_path`` places it."""
    return join_path(posixpath.dirname(silver_path.rstrip("/")), table)


def _side_watermark(spark: SparkSession, env: EnvConfig, silver: SilverConfig, writer: str) -> int | None:
    """The newest batch committed to a table written before silver's own commit (dead letters,
    history events, tombstones): ahead of silver after a crash between the writes."""
    marks = [committed_txn_version(spark, env.table_path("silver", t), writer) for t in (silver.dlq, *silver.side_tables)]
    known = [m for m in marks if m is not None]
    return max(known) if known else None


def _apply_tombstones(
    spark: SparkSession,
    silver: SilverConfig,
    prepared: DataFrame,
    source: DataFrame,
    run: RunContext,
    batch: BronzeRange,
    details: dict[str, Any],
    *,
    hook: StepHook,
    writer: str,
    path: str,
    silver_path: str,
) -> DataFrame:
    """Record this batch's deletes as tombstones, then give each MERGE source row its key's tombstone."""
    winners = prepared.where(~F.col(QUARANTINED) & (F.col(RANK) == 1))
    details["tombstones"] = record_tombstones(spark, silver, winners, path=path, silver_path=silver_path, app_id=writer,
                                              txn_version=batch.end, run=run)
    hook("tombstoned")
    flagged = source.join(winners.select(*[quote_identifier(k) for k in silver.keys], IS_DELETE), list(silver.keys), "left")
    tombstones = with_tombstones(spark, silver, path)
    if tombstones is None:
        return flagged.withColumn(TOMBSTONE_SEQUENCE, F.lit(None).cast(prepared.schema[silver.sequence_by].dataType))
    return flagged.join(tombstones, list(silver.keys), "left")


def _write_history(
    spark: SparkSession,
    silver: SilverConfig,
    prepared: DataFrame,
    run: RunContext,
    batch: BronzeRange,
    counted: LayerOutcome,
    summary: dict[str, int],
    details: dict[str, Any],
    *,
    hook: StepHook,
    silver_path: str,
    writer: str,
) -> LayerOutcome:
    """``history: scd2``: record the valid rows as events and MERGE the re-cut chains (:mod:`medallion.silver.scd2`)."""
    history = write_history(
        spark, silver, prepared.where(~F.col(QUARANTINED)),
        history_path=silver_path, events_path=_sibling(silver_path, silver.events_table),
        app_id=writer, txn_version=batch.end, batch_versions=(batch.start, batch.end), run=run, hook=hook,
    )
    details["history"] = {"started": history.started, "closed": history.closed,
                          "superseded": history.superseded, "merge": history.merge}
    outcome = replace(
        counted,
        rows_out=history.started,
        rows_deleted=history.closed,
        rows_superseded=history.superseded,
        target_version=history.version,
        details=details,
    )
    hook("merged")
    valid = counted.rows_in - counted.rows_quarantined
    if history.started + history.closed + history.superseded != valid:
        log.error("silver %s: %s valid rows but %s classified; the run's counts do not add up", silver.table, valid,
                  history.started + history.closed + history.superseded)
    log.info(
        "silver %s (history): %s in = %s versions + %s deletes + %s quarantined + %s superseded",
        silver.table, outcome.rows_in, outcome.rows_out, outcome.rows_deleted, outcome.rows_quarantined,
        outcome.rows_superseded,
    )
    return outcome


def _summarise(prepared: DataFrame, silver: SilverConfig) -> dict[str, int]:
    """Every count of the run in one aggregation over the persisted frame."""
    valid = ~F.col(QUARANTINED)
    row = prepared.agg(
        *quality_aggregates(silver.expectations),
        F.coalesce(F.sum(F.when(valid & (F.col(RANK) > 1), 1).otherwise(0)), F.lit(0)).alias("superseded_in_batch"),
        F.coalesce(F.sum(F.when(valid & (F.col(RANK) == 1), 1).otherwise(0)), F.lit(0)).alias("merge_rows"),
    ).head()
    assert row is not None
    return {key: int(value or 0) for key, value in row.asDict().items()}
