"""Gold: the declared aggregates over silver, rebuilt only where silver changed.

Each ``gold:`` entry of the pipeline becomes one Delta table at ``{lakehouse_root}/gold/{table}``:

* **Declarative** entries run ``derive`` -> ``filter`` -> ``group_by`` / ``measures`` as a pure
  ``DataFrame -> DataFrame`` transform (:func:`gold_transform`).
* **SQL** entries run a single SELECT in which the silver table is written ``{silver}``; PySpark's
  DataFrame formatting (``spark.sql(sql, silver=df)``) binds it, so no SQL is ever concatenated.

Writing:

* Every build records the silver version it read in the commit's ``userMetadata`` (atomically with the
  data) together with a fingerprint of the gold definition.
* Without ``partition_by`` the table is overwritten atomically (``overwriteSchema``).
* With ``partition_by`` only the partitions touched by silver rows changed since the recorded version
  are recomputed (silver's change data feed, pre- and post-images, so a row that moves partitions
  recomputes both) and replaced with ``replaceWhere``. No recorded version, a changed definition or
  schema, or an unreadable change feed fall back to a full rebuild.
* No silver change since the last build: the table is left untouched (no new Delta version).
* After a write that changed data the table is ``OPTIMIZE ... ZORDER BY zorder_by``, only where that can
  pay (:func:`medallion.maintenance.zorder_decision`, taken from the write's own commit). The decision
  is recorded with its threshold in the table's metrics (``zorder``), which go into the run log.

Example:
    >>> outcome = run_gold(spark, env, pipeline, RunContext("run-1", now))
    >>> outcome.details["tables"]["daily_revenue"]["mode"]
    'partitions'
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from medallion.audit.outcome import LayerOutcome, RunContext, Status
from medallion.columns import CHANGE_FEED
from medallion.config import EnvConfig, PipelineConfig
from medallion.config.gold import GoldTable
from medallion.delta_table import (
    CommitTag,
    find_commit,
    history_metadata,
    latest_version,
    read_change_feed,
)
from medallion.errors import RunError
from medallion.gold.references import TableRef, bindable_sql, gold_inputs, table_key
from medallion.maintenance import files_per_partition, optimize_zorder, zorder_decision, zorder_threshold
from medallion.sql import error_summary, quote_identifier

__all__ = [
    "run_gold",
    "build_gold_table",
    "gold_transform",
    "gold_frame",
    "partition_predicate",
    "last_build",
]

log = logging.getLogger(__name__)

_META_KEY = "medallion_gold"
_MAX_LISTED_PARTITIONS = 100
# Errors that mean "the change feed cannot answer": not enabled for the range, versions vacuumed, ...
_CDF_UNAVAILABLE = (AnalysisException, CapturedException, Py4JJavaError)


# --------------------------------------------------------------------------- pure transforms


def gold_transform(gold: GoldTable) -> Callable[[DataFrame], DataFrame]:
    """The declarative form of ``gold`` as a ``DataFrame -> DataFrame`` transform over silver.

    ``derive`` columns are added together (each sees the silver columns), then ``filter`` keeps rows
    where it is true, then rows are grouped by ``group_by`` and aggregated into ``measures``.

    Example:
        >>> silver_df.transform(gold_transform(gold))
    """
    if gold.sql is not None:
        raise ValueError(f"gold table {gold.table!r} is a sql query; use gold_frame()")

    def transform(df: DataFrame) -> DataFrame:
        df = df.transform(_derive_and_filter(gold))
        measures = [F.expr(expr).alias(name) for name, expr in gold.measures.items()]
        return df.groupBy(*[F.col(quote_identifier(c)) for c in gold.group_by]).agg(*measures)

    return transform


def _derive_and_filter(gold: GoldTable) -> Callable[[DataFrame], DataFrame]:
    def transform(df: DataFrame) -> DataFrame:
        if gold.derive:
            df = df.withColumns({name: F.expr(expr) for name, expr in gold.derive.items()})
        if gold.filter:
            df = df.filter(F.expr(gold.filter))
        return df

    return transform


def gold_frame(
    spark: SparkSession, gold: GoldTable, silver: DataFrame, tables: Mapping[TableRef, DataFrame] | None = None
) -> DataFrame:
    """The gold table's rows computed from ``silver`` (declarative transform or ``sql`` query).

    ``tables`` binds the query's other placeholders (``{silver.NAME}``, ``{gold.NAME}``); PySpark's
    DataFrame formatting substitutes them, so no SQL is concatenated.
    """
    if gold.sql is None:
        return silver.transform(gold_transform(gold))
    frames = {ref.argument: df for ref, df in (tables or {}).items()}
    frames[TableRef("silver").argument] = silver
    return spark.sql(bindable_sql(gold.sql), **frames)


def partition_predicate(columns: Sequence[str], values: Sequence[tuple[Any, ...]]) -> Column:
    """A Column selecting exactly the partitions ``values`` (tuples aligned with ``columns``).

    Null-safe: a ``None`` partition value selects the null partition.
    """
    if not values:
        return F.lit(False)
    if len(columns) == 1:
        col = F.col(quote_identifier(columns[0]))
        present = sorted({v[0] for v in values if v[0] is not None}, key=repr)
        conds = [col.isin(present)] if present else []
        if any(v[0] is None for v in values):
            conds.append(col.isNull())
        return reduce(lambda a, b: a | b, conds)
    per_partition = [
        reduce(lambda a, b: a & b, [F.col(quote_identifier(c)).eqNullSafe(F.lit(v)) for c, v in zip(columns, value, strict=True)])
        for value in values
    ]
    return reduce(lambda a, b: a | b, per_partition)


def _column_sql(column: Column) -> str:
    """Spark's own SQL rendering of a Column (literals escaped and identifiers quoted by Spark)."""
    return str(column._jc.expr().sql())


# --------------------------------------------------------------------------- build state


@dataclass(frozen=True)
class BuildState:
    """What the last medallion build of a gold table recorded in its commit."""

    version: int
    silver_version: int
    fingerprint: str
    inputs: Mapping[str, int]  # ``layer/table`` -> the version read


def _fingerprint(gold: GoldTable) -> str:
    # zorder_by changes the layout, and checks judge the data: neither forces a rebuild.
    definition = gold.model_dump(mode="json", exclude={"zorder_by", "checks"})
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]


def last_build(spark: SparkSession, path: str) -> BuildState | None:
    """The newest build medallion recorded in the gold table's history, or None."""
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    for version, meta in history_metadata(spark, path):
        if _META_KEY not in meta:
            continue
        try:
            build = meta[_META_KEY]
            inputs = {str(k): int(v) for k, v in build.get("inputs", {}).items()}
            return BuildState(version, int(build["silver_version"]), str(build["fingerprint"]), inputs)
        except (ValueError, KeyError, TypeError):
            log.warning("gold table %s: unreadable build metadata at version %s", path, version)
            return None
    return None


# --------------------------------------------------------------------------- the layer


def run_gold(spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, run: RunContext) -> LayerOutcome:
    """Build every gold table of the pipeline from one silver snapshot.

    The outcome has ``source_version`` (the silver version read), ``rows_in`` (rows of that silver
    snapshot, when any table was built), ``rows_out`` (gold rows written), ``target_version`` (the
    last gold version written) and ``details["tables"][name]``; status ``skipped`` when no table changed.

    Raises:
        RunError: the silver table does not exist, or a write failed.
    """
    if pipeline.silver is None or not pipeline.gold:
        return LayerOutcome(status=Status.SKIPPED, details={"reason": "no gold tables declared"})
    silver_path = env.table_path("silver", pipeline.silver.table)
    if not DeltaTable.isDeltaTable(spark, silver_path):
        raise RunError(f"silver table {pipeline.silver.table!r} does not exist at {silver_path}; run silver first")
    silver_version = latest_version(spark, silver_path)
    silver = spark.read.format("delta").option("versionAsOf", silver_version).load(silver_path)
    snapshots = _Snapshots(spark, env)
    snapshots.pin(table_key("silver", pipeline.silver.table), silver_version, silver)
    tables: dict[str, dict[str, Any]] = {}
    rows_in = rows_out = 0
    target_version: int | None = None

    for gold in _in_dependency_order(pipeline):
        inputs = {ref: snapshots.get(layer, name) for ref, (layer, name) in gold_inputs(pipeline, gold).items()}
        metrics = build_gold_table(
            spark,
            gold,
            silver,
            silver_path=silver_path,
            silver_version=silver_version,
            gold_path=env.table_path("gold", gold.table),
            run=run,
            checks_path=env.checks_path,
            inputs=inputs,
        )
        tables[gold.table] = metrics
        if metrics["mode"] != "skipped":
            rows_out += metrics["rows_out"]
            target_version = metrics["version"]
            if not rows_in:
                # Delta answers an unfiltered count from file statistics; no data is re-read.
                rows_in = silver.count()

    skipped = all(m["mode"] == "skipped" for m in tables.values())
    return LayerOutcome(
        status=Status.SKIPPED if skipped else Status.SUCCEEDED,
        rows_in=rows_in,
        rows_out=rows_out,
        source_version=silver_version,
        target_version=target_version,
        details={"tables": tables, "silver_version": silver_version},
    )


class _Snapshots:
    """Each input table read once per run, at the version it had when first asked for (gold tables
    built earlier in the run are read at their new version)."""

    def __init__(self, spark: SparkSession, env: EnvConfig) -> None:
        self.spark, self.env = spark, env
        self.pinned: dict[str, tuple[str, int, DataFrame]] = {}

    def pin(self, key: str, version: int, df: DataFrame) -> None:
        self.pinned[key] = (key, version, df)

    def get(self, layer: str, name: str) -> tuple[str, int, DataFrame]:
        key = table_key(layer, name)
        if key not in self.pinned:
            path = self.env.table_path(layer, name)
            if not DeltaTable.isDeltaTable(self.spark, path):
                raise RunError(f"{layer} table {name!r} does not exist at {path}; run its pipeline's {layer} layer first")
            version = latest_version(self.spark, path)
            df = self.spark.read.format("delta").option("versionAsOf", version).load(path)
            self.pin(key, version, df)
        return self.pinned[key]


def _in_dependency_order(pipeline: PipelineConfig) -> list[GoldTable]:
    """The pipeline's gold tables, each after the ones of this pipeline it reads (``{gold.NAME}``)."""
    from graphlib import TopologicalSorter

    mine = {g.table: g for g in pipeline.gold}
    graph = {
        g.table: {t for layer, t in gold_inputs(pipeline, g).values() if layer == "gold" and t in mine} for g in pipeline.gold
    }
    return [mine[name] for name in TopologicalSorter(graph).static_order()]


def _input_change(state: BuildState, versions: Mapping[str, int], own: str) -> tuple[str, str]:
    """How the recorded inputs compare with the current ones: ``(mode, reason)``; mode ``full``,
    ``skipped`` or ``own`` (only this pipeline's silver moved: its change feed can scope the rebuild)."""
    recorded = dict(state.inputs) or {own: state.silver_version}
    if set(recorded) != set(versions):
        return "full", f"inputs changed ({sorted(recorded)} -> {sorted(versions)})"
    back = sorted(k for k in versions if versions[k] < recorded[k])
    if back:
        return "full", f"version of {back[0]} went back ({recorded[back[0]]} -> {versions[back[0]]})"
    moved = sorted(k for k in versions if versions[k] > recorded[k])
    if not moved:
        return "skipped", "inputs unchanged"
    if moved == [own]:
        return "own", "silver changed"
    return "full", f"{', '.join(m for m in moved if m != own)} changed"


def build_gold_table(
    spark: SparkSession,
    gold: GoldTable,
    silver: DataFrame,
    *,
    silver_path: str,
    silver_version: int,
    gold_path: str,
    run: RunContext,
    checks_path: str | None = None,
    inputs: Mapping[TableRef, tuple[str, int, DataFrame]] | None = None,
) -> dict[str, Any]:
    """Build one gold table (full, partition-scoped or not at all) and return its metrics.

    Args:
        spark: the session.
        gold: the table's definition.
        silver: the silver snapshot at ``silver_version``.
        silver_path: where silver lives (for its change feed).
        silver_version: the version ``silver`` was read at; recorded with the write.
        gold_path: where the gold table lives.
        run: the run id and clock, recorded with the write.
        checks_path: where declared check results are recorded (``_audit/checks``); None: not recorded.
        inputs: every table the definition reads, as ``{reference: (layer/table, version, snapshot)}``
            (default: ``{silver}`` only). Their versions are recorded with the write; a later run
            rebuilds when any of them moved, and skips otherwise.

    Returns:
        ``{"mode": "full"|"partitions"|"skipped", "reason", "rows_out", "version", "silver_version",
        "replaced_partitions", "partitions_replaced", "optimized", ...}``
    """
    fingerprint = _fingerprint(gold)
    own = table_key("silver", silver_path.rstrip("/").rsplit("/", 1)[-1])
    inputs = dict(inputs or {TableRef("silver"): (own, silver_version, silver)})
    versions = {key: version for key, version, _ in inputs.values()}
    state = last_build(spark, gold_path)
    metrics: dict[str, Any] = {
        "mode": "full",
        "reason": "",
        "rows_out": 0,
        "version": state.version if state else None,
        "silver_version": silver_version,
        "previous_silver_version": state.silver_version if state else None,
        "inputs": versions,
        "replaced_partitions": [],
        "partitions_replaced": 0,
        "optimized": False,
    }
    touched: list[tuple[Any, ...]] | None = None  # None: full rebuild

    if state is None:
        metrics["reason"] = "no recorded build"
    elif state.fingerprint != fingerprint:
        metrics["reason"] = "definition changed"
    elif (change := _input_change(state, versions, own))[0] == "full":
        metrics["reason"] = change[1]
    elif change[0] == "skipped":
        metrics.update(mode="skipped", reason=change[1])
    else:
        try:
            touched = _touched(spark, gold, silver_path, state.silver_version + 1, silver_version)
        except _CDF_UNAVAILABLE as err:
            log.warning(
                "gold %s: silver change feed %s..%s unavailable (%s); rebuilding in full",
                gold.table, state.silver_version + 1, silver_version, error_summary(err),
            )
            metrics["reason"] = "change feed unavailable"
            touched = None
        else:
            if touched is not None and not touched:
                metrics.update(mode="skipped", reason="no relevant silver changes")
            elif touched is None:
                metrics["reason"] = "silver changed"

    if metrics["mode"] == "skipped":
        log.info("gold %s: %s since silver version %s; untouched", gold.table, metrics["reason"], silver_version)
        return metrics

    df = gold_frame(spark, gold, silver, {ref: frame for ref, (_, _, frame) in inputs.items()})
    if gold.checks:  # on the computed result, before the write: a failing `fail` check leaves the table as it is
        from medallion.checks.declared_checks import check_gold

        results = check_gold(spark, df, gold.checks, table=f"gold/{gold.table}", gold_path=gold_path,
                             history_path=checks_path, run=run, key=f"gold ({gold.table})")
        metrics["checks"] = {r.name: r.passed for r in results}
    if touched is not None and not _same_schema(spark, gold_path, df):
        touched, metrics["reason"] = None, "schema changed"
    tag = CommitTag(
        run.run_id,
        "gold",
        {_META_KEY: {"silver_version": silver_version, "inputs": versions, "fingerprint": fingerprint,
                     "built_at": run.now.isoformat()}},
    )
    meta = tag.metadata()
    before = latest_version(spark, gold_path)
    writer = df.write.format("delta").mode("overwrite").option("userMetadata", meta)
    where: str | None = None
    if touched is None:
        writer = writer.option("overwriteSchema", "true")
        if gold.partition_by:
            writer = writer.partitionBy(*gold.partition_by)
    else:
        condition = partition_predicate(gold.partition_by, touched)
        where = _column_sql(condition)
        writer = df.where(condition).write.format("delta").mode("overwrite").option("userMetadata", meta)
        writer = writer.option("replaceWhere", where)
        metrics.update(
            mode="partitions",
            reason=f"{len(touched)} partition(s) touched",
            partitions_replaced=len(touched),
            replaced_partitions=[
                {c: _jsonable(v) for c, v in zip(gold.partition_by, value, strict=True)}
                for value in touched[:_MAX_LISTED_PARTITIONS]
            ],
        )
    log.info("gold %s: %s build (%s)", gold.table, metrics["mode"], metrics["reason"])
    try:
        writer.save(gold_path)
    except (AnalysisException, CapturedException, Py4JJavaError) as err:
        raise RunError(f"gold table {gold.table!r}: write failed: {error_summary(err)}") from err

    commit = find_commit(spark, gold_path, tag, after=before)
    if commit is None:
        raise RunError(f"gold table at {gold_path}: the write of run {run.run_id} is not in the table history")
    metrics["version"] = commit.version
    metrics["rows_out"] = commit.metric("numOutputRows")
    metrics["files_added"] = commit.metric("numFiles", commit.metric("numAddedFiles"))
    metrics["files_removed"] = commit.metric("numRemovedFiles")

    if gold.zorder_by:
        decision = zorder_decision(files_per_partition(spark, gold_path, commit.version), zorder_threshold(spark))
        metrics["zorder"] = decision
        if decision["run"]:
            z = optimize_zorder(spark, gold_path, gold.zorder_by, where=where)
            metrics.update(optimized=True, zorder_by=list(gold.zorder_by), optimize=z)
        else:
            log.info("gold %s: Z-order skipped (%s)", gold.table, decision["reason"])
    return metrics


def _touched(
    spark: SparkSession, gold: GoldTable, silver_path: str, start: int, end: int
) -> list[tuple[Any, ...]] | None:
    """Partition values touched by silver changes in versions ``start..end``.

    Returns ``[]`` when nothing relevant changed, ``None`` when the table must be rebuilt in full
    (it has changes and is not partitioned, or its partitions cannot be traced back to silver rows).
    """
    changes = read_change_feed(spark, silver_path, start, end)
    # Pre- and post-images alike: a row that moved partitions touches both.
    changes = changes.drop(*[c for c in CHANGE_FEED if c in changes.columns])
    if gold.sql is None:
        changes = changes.transform(_derive_and_filter(gold))
    elif gold.partition_by and not set(gold.partition_by) <= set(changes.columns):
        # A sql table's partition values can only be traced to silver rows that carry them.
        return None if changes.limit(1).count() else []
    if not gold.partition_by:
        return None if changes.limit(1).count() else []
    rows = changes.select(*[F.col(quote_identifier(c)) for c in gold.partition_by]).distinct().collect()
    return [tuple(r) for r in rows]


def _same_schema(spark: SparkSession, path: str, df: DataFrame) -> bool:
    current = spark.read.format("delta").load(path).schema
    return [(f.name, f.dataType) for f in current] == [(f.name, f.dataType) for f in df.schema]


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
