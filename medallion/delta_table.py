"""Delta commit plumbing, in one place: versions, idempotent-writer watermarks, the change feed, table
creation, idempotent appends, bounded retry on write conflicts, and the commit tag.

Every commit medallion makes carries a :class:`CommitTag` (run id + layer, JSON in the commit's
``userMetadata``), written and looked up here only: after a write, :func:`find_commit` finds this run's
commit and its operation metrics in the table history, so counts come from Delta, not from a re-read.

Exactly-once uses Delta's idempotent writes: a commit carries a ``(txnAppId, txnVersion)`` pair, Delta
drops a second commit of the same pair, and :func:`committed_txn_version` reads the last committed
version of an app id back from the snapshot, so a watermark and the data it covers commit atomically.

Example:
    >>> tag = CommitTag(run_id="run-1", layer="silver")
    >>> commit = append_idempotent(df, "/lake/silver/orders_dlq", app_id="medallion.silver.orders",
    ...                            txn_version=7, tag=tag)
    >>> commit.version, commit.metrics["numOutputRows"]
    (3, '42')
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from delta.exceptions import ConcurrentTransactionException
from delta.tables import DeltaTable
from py4j.protocol import Py4JError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructField, StructType

from medallion.delta_retry import RETRYABLE, with_retry  # re-exported: the commit helpers' retry policy
from medallion.errors import RunError
from medallion.session import session_conf

__all__ = [
    "RETRYABLE",
    "CommitTag",
    "Commit",
    "latest_version",
    "committed_txn_version",
    "protocol_reader_version",
    "read_change_feed",
    "create_table",
    "append_idempotent",
    "append_shared",
    "find_commit",
    "commit_actions",
    "idempotent_commit",
    "command_idempotent",
    "with_retry",
]

log = logging.getLogger(__name__)

_TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
_TXN_VERSION = "spark.databricks.delta.write.txnVersion"
_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
_RECENT_COMMITS = 20  # how far back a lookup without a starting version looks


@dataclass(frozen=True)
class CommitTag:
    """Who made a commit: the run and the layer, plus layer-specific facts recorded with the data.

    Written as sorted JSON into the commit's ``userMetadata``; :meth:`matches` recognises it again.
    """

    run_id: str
    layer: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def metadata(self) -> str:
        """The ``userMetadata`` text of a commit made with this tag."""
        return json.dumps({**self.extra, "run_id": self.run_id, "layer": self.layer}, sort_keys=True, default=str)

    def matches(self, user_metadata: str | None) -> bool:
        """Whether a commit's ``userMetadata`` carries this tag's run id and layer."""
        meta = parse_metadata(user_metadata)
        return meta.get("run_id") == self.run_id and meta.get("layer") == self.layer


def parse_metadata(user_metadata: str | None) -> dict[str, Any]:
    """A commit's ``userMetadata`` as a dict (empty when absent or not medallion's JSON)."""
    if not user_metadata:
        return {}
    try:
        meta = json.loads(user_metadata)
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


@dataclass(frozen=True)
class Commit:
    """One commit of a Delta table: its version, operation and operation metrics."""

    version: int
    operation: str
    metrics: Mapping[str, str]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def metric(self, name: str, default: int = 0) -> int:
        return int(self.metrics.get(name, default))


# --------------------------------------------------------------------------- versions


def _snapshot(spark: SparkSession, path: str):  # type: ignore[no-untyped-def]
    """The current Delta snapshot of ``path`` via the JVM, no Spark job (update: 2 defaults on Delta 3, 3 on 4)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    arity = max(m.getParameterCount() for m in delta_log.getClass().getMethods() if m.getName() == "update")
    return delta_log.update(*(getattr(delta_log, f"update$default${i}")() for i in range(1, arity + 1)))


def latest_version(spark: SparkSession, path: str) -> int:
    """The latest committed version of the Delta table at ``path`` (-1 when there is none)."""
    try:
        return int(_snapshot(spark, path).version())
    except Py4JError as err:
        raise RunError(f"cannot read the Delta log of {path}: {type(err).__name__}") from err


def protocol_reader_version(spark: SparkSession, path: str) -> int:
    """The ``minReaderVersion`` of the latest snapshot of the Delta table at ``path`` (no Spark job)."""
    try:
        return int(_snapshot(spark, path).protocol().minReaderVersion())
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


def read_change_feed(spark: SparkSession, path: str, start: int, end: int) -> DataFrame:
    """The change data feed of the Delta table at ``path`` for versions ``start..end`` (inclusive)."""
    return (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", start)
        .option("endingVersion", end)
        .load(path)
    )


# --------------------------------------------------------------------------- writing


def _nullable(schema: StructType) -> StructType:
    return StructType([StructField(f.name, f.dataType, True, f.metadata) for f in schema.fields])


def create_table(
    spark: SparkSession,
    path: str,
    schema: StructType,
    *,
    properties: Mapping[str, str] | None = None,
    partition_by: Sequence[str] = (),
) -> bool:
    """Create an empty Delta table at ``path`` with ``schema`` (all columns nullable) if none exists.

    Returns:
        True when the table was created by this call.
    """
    if DeltaTable.isDeltaTable(spark, path):
        return False
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(_nullable(schema))
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    for key, value in (properties or {}).items():
        builder = builder.property(key, value)
    try:
        builder.execute()
    except Exception:
        # Two runs creating the same table at once: the loser finds the winner's table (a normal
        # outcome; the caller plans its commit as if it had created it).
        if latest_version(spark, path) >= 0:
            log.info("Delta table %s was created by a concurrent run", path)
            return False
        raise
    log.info("created Delta table %s", path)
    return True


@contextmanager
def idempotent_commit(spark: SparkSession, tag: CommitTag, *, app_id: str, txn_version: int) -> Iterator[None]:
    """Session settings under which a Delta command (e.g. MERGE) commits idempotently with ``tag``."""
    confs = {_TXN_APP_ID: app_id, _TXN_VERSION: str(txn_version), _USER_METADATA: tag.metadata()}
    with session_conf(spark, confs):
        yield


def append_idempotent(
    df: DataFrame,
    path: str,
    *,
    app_id: str,
    txn_version: int,
    tag: CommitTag,
    properties: Mapping[str, str] | None = None,
    partition_by: Sequence[str] = (),
    max_attempts: int = 3,
    wait_seconds: float = 1.0,
) -> Commit | None:
    """Append ``df`` to the Delta table at ``path`` as an idempotent commit; the first append creates the
    table, with ``properties`` and ``partition_by``, in the same commit (all columns nullable).

    New columns are merged into the table schema. If ``(app_id, txn_version)`` was already committed,
    Delta drops the append and None is returned. Two runs creating the table at once: the loser's
    commit conflicts (``ProtocolChangedException``), is retried, and is dropped as already committed.

    A concurrent commit of the same ``(app_id, txn_version)`` (``ConcurrentTransactionException``:
    another run planned on the same snapshot and won) counts as dropped too.

    Returns:
        This run's commit (version and operation metrics), or None when Delta dropped the append.
    """
    before = latest_version(spark=df.sparkSession, path=path)
    dropped = []
    creating = before < 0
    if creating:
        df = df.to(_nullable(df.schema))

    def attempt() -> None:
        # Delta takes ``delta.*`` writer options as the properties of a table the write creates (and
        # ignores them on an existing table): no session setting, which concurrent writers would share.
        try:
            (
                df.write.format("delta")
                .options(**(dict(properties or {}) if creating else {}))
                .partitionBy(*(partition_by if creating else ()))
                .mode("append")
                .option("mergeSchema", "true")
                .option("txnAppId", app_id)
                .option("txnVersion", str(txn_version))
                .option("userMetadata", tag.metadata())
                .save(path)
            )
        except ConcurrentTransactionException:
            dropped.append(True)

    with_retry(attempt, f"append to {path}", max_attempts=max_attempts, wait_seconds=wait_seconds)
    if dropped:
        log.warning("append to %s: a concurrent run committed transaction %s/%d first", path, app_id, txn_version)
        return None
    return find_commit(df.sparkSession, path, tag, after=before)


def command_idempotent(
    spark: SparkSession, path: str, command: Callable[[], None], *, app_id: str, txn_version: int, tag: CommitTag
) -> Commit | None:
    """Run a Delta command on ``path`` (e.g. a MERGE built in ``command``) as an idempotent, tagged commit.

    ``command`` is called again on a retryable conflict, so it should build its DataFrames afresh.

    Returns:
        This run's commit, or None when ``(app_id, txn_version)`` was already committed (Delta dropped it).
    """
    before = latest_version(spark, path)

    def attempt() -> None:
        with idempotent_commit(spark, tag, app_id=app_id, txn_version=txn_version):
            command()

    with_retry(attempt, f"commit to {path}")
    return find_commit(spark, path, tag, after=before)


def append_shared(df: DataFrame, path: str, *, what: str, merge_schema: bool = True) -> None:
    """Append ``df`` to an audit table that every dataset of the project shares (run log, check history).

    Parallel first runs of several datasets race to create such a table (Delta reports the loser's
    commit as a ``ProtocolChangedException``); blind appends are retried on :data:`RETRYABLE` conflicts.
    ``merge_schema`` lets a table written by an older version gain the columns added since.
    """

    def attempt() -> None:
        df.write.format("delta").mode("append").option("mergeSchema", str(merge_schema).lower()).save(path)

    with_retry(attempt, f"append to {what} at {path}")


def commit_actions(spark: SparkSession, path: str, version: int) -> list[dict[str, Any]] | None:
    """The actions of commit ``version`` of the table at ``path``, read from its ``_delta_log`` JSON file
    on the driver (one file read, no Spark job), or None when the file is gone (log cleanup)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    log_file = jvm.org.apache.hadoop.fs.Path(f"{path.rstrip('/')}/_delta_log/{version:020d}.json")
    fs = log_file.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    try:
        stream = fs.open(log_file)
    except Py4JError as err:
        if "FileNotFoundException" in str(err):
            return None
        raise
    try:
        text = str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
    finally:
        stream.close()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _commit_info(spark: SparkSession, path: str, version: int) -> dict[str, Any] | None:
    actions = commit_actions(spark, path, version)
    return next((a["commitInfo"] for a in actions or () if "commitInfo" in a), None)


def find_commit(spark: SparkSession, path: str, tag: CommitTag, *, after: int | None = None) -> Commit | None:
    """The newest commit of ``path`` made with ``tag`` (after version ``after``, when given), or None.

    Only the commits since ``after`` are read (usually just ours), or the last few when it is not
    given, newest first, straight from their ``_delta_log`` files: ``history()`` would start a Spark
    job for the same few lines.
    """
    latest = latest_version(spark, path)
    oldest = latest - _RECENT_COMMITS + 1 if after is None else after + 1
    for version in range(latest, max(oldest, 0) - 1, -1):
        info = _commit_info(spark, path, version)
        if info is None:
            break
        if tag.matches(info.get("userMetadata")):
            return Commit(
                version=version,
                operation=str(info.get("operation")),
                metrics={k: str(v) for k, v in (info.get("operationMetrics") or {}).items()},
                metadata=parse_metadata(info.get("userMetadata")),
            )
    return None


def history_metadata(spark: SparkSession, path: str, *, limit: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(version, userMetadata as a dict)`` of the table's commits, newest first (medallion's commits only).

    Lazy: each commit file is read when the caller asks for the next one, so a caller that stops at
    the newest match reads one or two files whatever the length of the history.
    """
    latest = latest_version(spark, path)
    oldest = max(latest - limit + 1, 0) if limit else 0
    for version in range(latest, oldest - 1, -1):
        info = _commit_info(spark, path, version)
        if info is None:
            return
        meta = parse_metadata(info.get("userMetadata"))
        if meta:
            yield version, meta
