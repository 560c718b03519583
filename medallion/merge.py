"""The newest-wins Delta MERGE, built from a typed model, with bounded retry on write conflicts.

:class:`MergeSpec` says what to merge: the key columns, the sequence column whose newest value wins,
the columns written on insert and update, and (optionally) a column whose change makes an
equal-sequence row worth rewriting. From it come the fixed-alias conditions (target ``t``, source
``s``) of :func:`merge_into`:

* a new key is inserted;
* an existing key is updated only when the incoming sequence is newer, or equal with different
  content: a stale version arriving late never overwrites a newer one, and the same record applied
  twice changes nothing;
* a null sequence counts as the oldest possible value.

Each source row therefore either inserts, updates, or is left unapplied, so ``numSourceRows -
inserted - updated`` is exactly the number of rows superseded by what the table already holds.

Exactly-once across crashes uses Delta's idempotent writes: every commit carries a ``(txnAppId,
txnVersion)`` pair, Delta drops a second commit of the same pair, and :func:`committed_txn_version`
reads the last committed version back, so the watermark and the data commit atomically.

Example:
    >>> spec = MergeSpec(keys=("order_id",), sequence_by="updated_at", columns=("order_id", "updated_at"))
    >>> metrics = merge_into(spark, "/lake/silver/orders", source_df, spec,
    ...                      app_id="medallion.silver.orders", txn_version=7, user_metadata="run-1")
    >>> metrics.inserted, metrics.updated
    (3, 1)
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)
from delta.tables import DeltaTable
from py4j.protocol import Py4JError
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType
from tenacity import Retrying, before_sleep_log, retry_if_exception_type, stop_after_attempt, wait_exponential

from medallion.errors import RunError
from medallion.session import session_conf
from medallion.sql import quote_identifier

__all__ = [
    "TARGET",
    "SOURCE",
    "RETRYABLE",
    "MergeSpec",
    "MergeMetrics",
    "rank_versions",
    "merge_into",
    "append_idempotent",
    "ensure_table",
    "committed_txn_version",
    "latest_version",
    "read_change_feed",
    "retrying",
]

log = logging.getLogger(__name__)

TARGET = "t"
SOURCE = "s"

#: Delta's write-conflict exceptions worth retrying. ``ConcurrentTransactionException`` is not among
#: them: it means another run committed the same idempotent transaction, and a retry would be dropped.
RETRYABLE: tuple[type[Exception], ...] = (
    ConcurrentAppendException,
    ConcurrentDeleteReadException,
    ConcurrentDeleteDeleteException,
    ConcurrentWriteException,
    MetadataChangedException,
    ProtocolChangedException,
    DeltaConcurrentModificationException,
)

_TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
_TXN_VERSION = "spark.databricks.delta.write.txnVersion"
_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


@dataclass(frozen=True)
class MergeSpec:
    """What a newest-wins MERGE writes and how it decides.

    Attributes:
        keys: the key columns (matched with ``=``; null keys never match, so filter them first).
        sequence_by: the column whose newest value wins.
        columns: the columns written on insert and on update (must include keys and sequence_by).
            A column new to the target is added to its schema (schema evolution).
        change_column: when set, an equal-sequence row updates only if this column differs
            (e.g. a record hash); when None, equal sequences always update.
        tiebreak: columns ordering equal-sequence versions within one batch, newest first (descending).
    """

    keys: tuple[str, ...]
    sequence_by: str
    columns: tuple[str, ...]
    change_column: str | None = None
    tiebreak: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a MERGE needs at least one key")
        missing = [c for c in (*self.keys, self.sequence_by) if c not in self.columns]
        if self.change_column is not None and self.change_column not in self.columns:
            missing.append(self.change_column)
        if missing:
            raise ValueError(f"columns {missing} must be among the merged columns {list(self.columns)}")

    def key_condition(self) -> Column:
        """``t.k1 = s.k1 AND ...``."""
        cond = _col(TARGET, self.keys[0]) == _col(SOURCE, self.keys[0])
        for key in self.keys[1:]:
            cond = cond & (_col(TARGET, key) == _col(SOURCE, key))
        return cond

    def update_condition(self) -> Column:
        """Update a matched row only when the incoming version is newer (or equal and changed)."""
        s_seq, t_seq = _col(SOURCE, self.sequence_by), _col(TARGET, self.sequence_by)
        newer = (s_seq > t_seq) | (t_seq.isNull() & s_seq.isNotNull())
        if self.change_column is None:
            same = s_seq.eqNullSafe(t_seq)
        else:
            changed = ~_col(SOURCE, self.change_column).eqNullSafe(_col(TARGET, self.change_column))
            same = s_seq.eqNullSafe(t_seq) & changed
        return newer | same

    def assignments(self) -> dict[str, Column]:
        """``{target column: source column}`` for both insert and update."""
        return {quote_identifier(c): _col(SOURCE, c) for c in self.columns}

    def newest_first(self) -> list[Column]:
        """Ordering of versions of one key, newest first (null sequences last)."""
        return [F.col(quote_identifier(c)).desc_nulls_last() for c in (self.sequence_by, *self.tiebreak)]


@dataclass(frozen=True)
class MergeMetrics:
    """What one MERGE commit did, from Delta's operation metrics."""

    version: int
    source_rows: int
    inserted: int
    updated: int

    @property
    def unapplied(self) -> int:
        """Source rows neither inserted nor updated: stale (or identical) against the target."""
        return self.source_rows - self.inserted - self.updated


def rank_versions(spec: MergeSpec, *, column: str = "_rank", within: Sequence[str] = ()) -> Callable[[DataFrame], DataFrame]:
    """A transform numbering the versions of each key, 1 = newest (deterministic on ties).

    Args:
        spec: keys, sequence and tie-break columns.
        column: the name of the rank column added.
        within: extra partition columns (e.g. a quarantine flag, so rejected rows do not compete).
    """
    window = Window.partitionBy(*[F.col(quote_identifier(c)) for c in (*within, *spec.keys)]).orderBy(*spec.newest_first())

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumn(column, F.row_number().over(window))

    return transform


def merge_into(
    spark: SparkSession,
    path: str,
    source: DataFrame,
    spec: MergeSpec,
    *,
    app_id: str,
    txn_version: int,
    user_metadata: str,
    properties: Mapping[str, str] | None = None,
    max_attempts: int = 3,
    wait_seconds: float = 1.0,
) -> MergeMetrics:
    """MERGE ``source`` (one row per key) into the Delta table at ``path`` as an idempotent commit.

    The table is created from the source schema (with ``properties``) if it does not exist yet.
    The commit carries ``(app_id, txn_version)`` and ``user_metadata``; its metrics are read back
    from the table history by that (run-unique) ``user_metadata``.

    Args:
        spark: the session.
        path: the target table.
        source: the rows to merge, at most one per key, with ``spec.columns``.
        spec: the MERGE model.
        app_id: the idempotent-writer id (stable for this target and its source).
        txn_version: this batch's transaction version; must exceed the last committed one.
        user_metadata: the commit's userMetadata, unique to this run (e.g. JSON with the run id).
        properties: table properties used when the table is created.
        max_attempts: bound on attempts when Delta reports a write conflict.
        wait_seconds: base of the exponential back-off between attempts.

    Returns:
        The commit's version and inserted / updated / source row counts.

    Raises:
        RunError: the conflict persisted after ``max_attempts``, another run committed the same
            transaction, or the commit could not be found.
    """
    columns = [quote_identifier(c) for c in spec.columns]
    if ensure_table(spark, path, source.select(*columns).schema, properties or {}):
        # A table created just now is empty: every source row is an insert, and an idempotent append
        # does in one pass what a MERGE would do with a join (the first load is the big one).
        commit = _append_commit(
            source.select(*columns), path, app_id=app_id, txn_version=txn_version, user_metadata=user_metadata,
            max_attempts=max_attempts, wait_seconds=wait_seconds,
        )
        if commit is None:
            raise RunError(f"first load of {path} was not committed: transaction {app_id}@{txn_version} was already applied")
        rows = int(commit[1].get("numOutputRows", 0))
        out = MergeMetrics(version=commit[0], source_rows=rows, inserted=rows, updated=0)
        log.info("first load of %s committed version %s: %s", path, out.version, out)
        return out
    confs = {_TXN_APP_ID: app_id, _TXN_VERSION: str(txn_version), _USER_METADATA: user_metadata}

    def attempt() -> None:
        # A fresh DeltaTable per attempt: a conflicting commit may have changed the schema.
        target = DeltaTable.forPath(spark, path).alias(TARGET)
        assignments = spec.assignments()
        with session_conf(spark, confs):
            (
                target.merge(source.alias(SOURCE), spec.key_condition())
                .whenMatchedUpdate(condition=spec.update_condition(), set=assignments)
                .whenNotMatchedInsert(values=assignments)
                .withSchemaEvolution()
                .execute()
            )

    _with_retry(attempt, f"MERGE into {path}", max_attempts=max_attempts, wait_seconds=wait_seconds)
    commit = _find_commit(spark, path, user_metadata, "MERGE")
    if commit is None:
        raise RunError(
            f"MERGE into {path} was not committed: transaction {app_id}@{txn_version} was already applied "
            "(another run processed the same input)"
        )
    version, metrics = commit
    out = MergeMetrics(
        version=version,
        source_rows=int(metrics.get("numSourceRows", 0)),
        inserted=int(metrics.get("numTargetRowsInserted", 0)),
        updated=int(metrics.get("numTargetRowsUpdated", 0)),
    )
    log.info("MERGE into %s committed version %s: %s", path, version, out)
    return out


def append_idempotent(
    df: DataFrame,
    path: str,
    *,
    app_id: str,
    txn_version: int,
    user_metadata: str,
    max_attempts: int = 3,
    wait_seconds: float = 1.0,
) -> int | None:
    """Append ``df`` to the Delta table at ``path`` (created if missing) as an idempotent commit.

    New columns are merged into the table schema. If ``(app_id, txn_version)`` was already
    committed, Delta drops the append and None is returned.

    Returns:
        The version committed, or None when the transaction had already been applied.
    """
    commit = _append_commit(
        df, path, app_id=app_id, txn_version=txn_version, user_metadata=user_metadata,
        max_attempts=max_attempts, wait_seconds=wait_seconds,
    )
    return None if commit is None else commit[0]


def _append_commit(
    df: DataFrame, path: str, *, app_id: str, txn_version: int, user_metadata: str, max_attempts: int, wait_seconds: float
) -> tuple[int, dict[str, str]] | None:
    """The append of :func:`append_idempotent`, returning its commit's version and operation metrics."""

    def attempt() -> None:
        (
            df.write.format("delta")
            .mode("append")
            .option("mergeSchema", "true")
            .option("txnAppId", app_id)
            .option("txnVersion", str(txn_version))
            .option("userMetadata", user_metadata)
            .save(path)
        )

    _with_retry(attempt, f"append to {path}", max_attempts=max_attempts, wait_seconds=wait_seconds)
    return _find_commit(df.sparkSession, path, user_metadata, "WRITE")


def ensure_table(spark: SparkSession, path: str, schema: StructType, properties: Mapping[str, str]) -> bool:
    """Create an empty Delta table at ``path`` with ``schema`` (all columns nullable) if none exists.

    Returns:
        True when the table was created by this call.
    """
    if DeltaTable.isDeltaTable(spark, path):
        return False
    nullable = StructType([StructField(f.name, f.dataType, True, f.metadata) for f in schema.fields])
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(nullable)
    for key, value in properties.items():
        builder = builder.property(key, value)
    builder.execute()
    log.info("created Delta table %s", path)
    return True


def read_change_feed(spark: SparkSession, path: str, start: int, end: int) -> DataFrame:
    """The change data feed of the Delta table at ``path`` for versions ``start..end`` (inclusive)."""
    return (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", start)
        .option("endingVersion", end)
        .load(path)
    )


def _snapshot(spark: SparkSession, path: str):  # type: ignore[no-untyped-def]
    """The current Delta snapshot of ``path`` through the JVM (no Spark job, unlike ``history()``)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    return delta_log.update(getattr(delta_log, "update$default$1")(), getattr(delta_log, "update$default$2")())


def latest_version(spark: SparkSession, path: str) -> int:
    """The latest committed version of the Delta table at ``path`` (-1 when there is none)."""
    try:
        return int(_snapshot(spark, path).version())
    except Py4JError as err:
        raise RunError(f"cannot read the Delta log of {path}: {type(err).__name__}") from err


def committed_txn_version(spark: SparkSession, path: str, app_id: str) -> int | None:
    """The last ``txnVersion`` committed to the table at ``path`` by ``app_id`` (None: never, or no table).

    Delta keeps these ``SetTransaction`` versions in the table snapshot itself; there is no Python API
    for them, so this reads the snapshot through the JVM.
    """
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    try:
        found = _snapshot(spark, path).transactions().get(app_id)
        return int(found.get()) if found.isDefined() else None
    except Py4JError as err:
        raise RunError(f"cannot read the transaction state of {path}: {type(err).__name__}") from err


def retrying(max_attempts: int = 3, wait_seconds: float = 1.0) -> Retrying:
    """The retry policy for Delta commits: only :data:`RETRYABLE` conflicts, at most ``max_attempts``."""
    return Retrying(
        retry=retry_if_exception_type(RETRYABLE),
        stop=stop_after_attempt(max_attempts),
        wait=wait_exponential(multiplier=wait_seconds, max=30),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )


def _with_retry(fn: Callable[[], None], what: str, *, max_attempts: int, wait_seconds: float) -> None:
    try:
        for attempt in retrying(max_attempts, wait_seconds):
            with attempt:
                fn()
    except ConcurrentTransactionException as err:
        raise RunError(f"{what}: another run committed the same transaction concurrently") from err
    except RETRYABLE as err:
        raise RunError(f"{what}: write conflict persisted after {max_attempts} attempts ({type(err).__name__})") from err


def _find_commit(spark: SparkSession, path: str, user_metadata: str, operation: str) -> tuple[int, dict[str, str]] | None:
    # The last few commits, filtered here: a Spark filter + sort would plan a shuffle for 20 rows.
    history = DeltaTable.forPath(spark, path).history(20).select("version", "operation", "userMetadata", "operationMetrics")
    ours = [r for r in history.collect() if r["userMetadata"] == user_metadata and r["operation"] == operation]
    if not ours:
        return None
    newest = max(ours, key=lambda r: int(r["version"]))
    return int(newest["version"]), dict(newest["operationMetrics"] or {})


def _col(alias: str, name: str) -> Column:
    return F.col(f"{alias}.{quote_identifier(name)}")
