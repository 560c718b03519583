"""The newest-wins Delta MERGE, built from a typed model.

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

The commit is idempotent (``txnAppId`` / ``txnVersion``) and tagged; both mechanisms live in
:mod:`medallion.delta_table`.

Example:
    >>> spec = MergeSpec(keys=("order_id",), sequence_by="updated_at", columns=("order_id", "updated_at"))
    >>> metrics = merge_into(spark, "/lake/silver/orders", source_df, spec,
    ...                      app_id="medallion.silver.orders", txn_version=7, tag=CommitTag("run-1", "silver"))
    >>> metrics.inserted, metrics.updated
    (3, 1)
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from medallion.columns import RANK
from medallion.delta_table import (
    CommitTag,
    append_idempotent,
    create_table,
    find_commit,
    idempotent_commit,
    latest_version,
    with_retry,
)
from medallion.errors import RunError
from medallion.sql import quote_identifier

__all__ = ["TARGET", "SOURCE", "MergeSpec", "MergeMetrics", "rank_versions", "merge_into"]

log = logging.getLogger(__name__)

TARGET = "t"
SOURCE = "s"

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
        delete_column: a boolean source column: where true the row deletes its key (the target row
            goes when the delete's sequence is not older than it; a delete is never inserted).
        floor_column: a source column holding the sequence of the key's recorded delete (a
            tombstone): an upsert applies only when strictly newer, so a late older version does not
            bring a deleted key back. Neither column is written.
    """

    keys: tuple[str, ...]
    sequence_by: str
    columns: tuple[str, ...]
    change_column: str | None = None
    tiebreak: tuple[str, ...] = ()
    delete_column: str | None = None
    floor_column: str | None = None

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

    def is_delete(self) -> Column:
        """Whether the source row is a delete (always false without ``delete_column``)."""
        return F.lit(False) if self.delete_column is None else F.coalesce(_col(SOURCE, self.delete_column), F.lit(False))

    def above_floor(self) -> Column:
        """An upsert is newer than the key's recorded delete (true when there is none)."""
        if self.floor_column is None:
            return F.lit(True)
        floor = _col(SOURCE, self.floor_column)
        return floor.isNull() | (_col(SOURCE, self.sequence_by) > floor)

    def delete_condition(self) -> Column:
        """A matched row is deleted by a source delete at least as new as it (ties: the delete wins)."""
        s_seq, t_seq = _col(SOURCE, self.sequence_by), _col(TARGET, self.sequence_by)
        return self.is_delete() & (t_seq.isNull() | (s_seq >= t_seq))

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
    deleted: int = 0

    @property
    def unapplied(self) -> int:
        """Source rows neither inserted, updated nor deleting: stale (or identical) against the target."""
        return self.source_rows - self.inserted - self.updated - self.deleted


def rank_versions(spec: MergeSpec, *, column: str = RANK, within: Sequence[str] = ()) -> Callable[[DataFrame], DataFrame]:
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
    tag: CommitTag,
    properties: Mapping[str, str] | None = None,
    max_attempts: int = 3,
    wait_seconds: float = 1.0,
) -> MergeMetrics:
    """MERGE ``source`` (one row per key) into the Delta table at ``path`` as an idempotent commit.

    The table is created from the source schema (with ``properties``) if it does not exist yet; that
    first load is an idempotent append (every row is an insert, and an append does in one pass what a
    MERGE would do with a join).

    Args:
        spark: the session.
        path: the target table.
        source: the rows to merge, at most one per key, with ``spec.columns``.
        spec: the MERGE model.
        app_id: the idempotent-writer id (stable for this target and its source).
        txn_version: this batch's transaction version; must exceed the last committed one.
        tag: the commit tag of this run (its metrics are read back by it).
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
    if spec.delete_column is not None:
        create_table(spark, path, source.select(*columns).schema, properties=properties or {})
    before = latest_version(spark, path)
    if spec.delete_column is None and before < 0:  # the first load: an append that creates the table
        commit = append_idempotent(
            source.select(*columns), path, app_id=app_id, txn_version=txn_version, tag=tag, properties=properties,
            max_attempts=max_attempts, wait_seconds=wait_seconds,
        )
        if commit is None:
            raise RunError(f"first load of {path} was not committed: transaction {app_id}@{txn_version} was already applied")
        rows = commit.metric("numOutputRows")
        out = MergeMetrics(version=commit.version, source_rows=rows, inserted=rows, updated=0)
        log.info("first load of %s committed version %s: %s", path, out.version, out)
        return out

    def attempt() -> None:
        # A fresh DeltaTable per attempt: a conflicting commit may have changed the schema.
        target = DeltaTable.forPath(spark, path).alias(TARGET)
        assignments = spec.assignments()
        upsert = ~spec.is_delete() & spec.above_floor()
        with idempotent_commit(spark, tag, app_id=app_id, txn_version=txn_version):
            builder = target.merge(source.alias(SOURCE), spec.key_condition())
            if spec.delete_column is not None:
                builder = builder.whenMatchedDelete(condition=spec.delete_condition())
            (
                builder.whenMatchedUpdate(condition=upsert & spec.update_condition(), set=assignments)
                .whenNotMatchedInsert(condition=upsert, values=assignments)
                .withSchemaEvolution()
                .execute()
            )

    with_retry(attempt, f"MERGE into {path}", max_attempts=max_attempts, wait_seconds=wait_seconds)
    commit = find_commit(spark, path, tag, after=before)
    if commit is None:
        raise RunError(
            f"MERGE into {path} was not committed: transaction {app_id}@{txn_version} was already applied "
            "(another run processed the same input)"
        )
    out = MergeMetrics(
        version=commit.version,
        source_rows=commit.metric("numSourceRows"),
        inserted=commit.metric("numTargetRowsInserted"),
        updated=commit.metric("numTargetRowsUpdated"),
        deleted=commit.metric("numTargetRowsDeleted"),
    )
    log.info("MERGE into %s committed version %s: %s", path, commit.version, out)
    return out


def _col(alias: str, name: str) -> Column:
    return F.col(f"{alias}.{quote_identifier(name)}")
