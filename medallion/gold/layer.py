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
  pay (:func:`medallion.gold.zorder.zorder_decision`, taken from the write's own commit). The decision
  is recorded with its threshold in the table's metrics (``zorder``), which go into the run log.

Example:
    >>> outcome = run_gold(spark, env, pipeline, RunContext("run-1", now))
    >>> outcome.details["tables"]["daily_revenue"]["mode"]
    'partitions'
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from functools import reduce
from typing import Any

from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from medallion.audit.outcome import LayerOutcome, RunContext, Status
from medallion.config import EnvConfig, PipelineConfig
from medallion.config.gold import GoldTable
from medallion.delta_table import (
    CommitTag,
    find_commit,
    latest_version,
)
from medallion.errors import RunError, error_summary
from medallion.gold.plan import (
    CDF_UNAVAILABLE,
    META_KEY,
    GoldBuild,
    derive_and_filter,
    fingerprint,
    input_change,
    last_build,
    touched_partitions,
)
from medallion.gold.references import TableRef, bindable_sql, gold_inputs, table_key
from medallion.gold.zorder import files_per_partition, zorder_decision, zorder_threshold
from medallion.maintenance import optimize_zorder
from medallion.security.hardening import config_sql
from medallion.security.sandbox import sandboxed
from medallion.sql import jsonable, quote_identifier

__all__ = ["run_gold", "build_gold_table", "gold_transform", "gold_frame", "partition_predicate"]

log = logging.getLogger(__name__)

_MAX_LISTED_PARTITIONS = 100


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
        df = df.transform(derive_and_filter(gold))
        measures = [F.expr(expr).alias(name) for name, expr in gold.measures.items()]
        return df.groupBy(*[F.col(quote_identifier(c)) for c in gold.group_by]).agg(*measures)

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
    with config_sql(spark):  # analysed here, with file relations and variable substitution off
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


def column_sql(column: Column) -> str:
    """Spark's own SQL rendering of a Column (literals escaped and identifiers quoted by Spark)."""
    return str(column._jc.expr().sql())


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
    tables: dict[str, GoldBuild] = {}
    rows_in = rows_out = 0
    target_version: int | None = None

    for gold in _in_dependency_order(pipeline):
        inputs = {ref: snapshots.get(layer, name) for ref, (layer, name) in gold_inputs(pipeline, gold).items()}
        build = build_gold_table(
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
        tables[gold.table] = build
        if not build.skipped:
            rows_out += build.rows_out
            target_version = build.version
            if not rows_in:
                # Delta answers an unfiltered count from file statistics; no data is re-read.
                rows_in = silver.count()

    skipped = all(b.skipped for b in tables.values())
    return LayerOutcome(
        status=Status.SKIPPED if skipped else Status.SUCCEEDED,
        rows_in=rows_in,
        rows_out=rows_out,
        source_version=silver_version,
        target_version=target_version,
        details={"tables": {name: b.details() for name, b in tables.items()}, "silver_version": silver_version},
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
) -> GoldBuild:
    """Build one gold table (full, partition-scoped or not at all) and say how.

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
        The build: its mode (``full`` / ``partitions`` / ``skipped``), reason, rows and version written,
        and its Z-order decision (:class:`~medallion.gold.plan.GoldBuild`).
    """
    definition = fingerprint(gold)
    own = table_key("silver", silver_path.rstrip("/").rsplit("/", 1)[-1])
    inputs = dict(inputs or {TableRef("silver"): (own, silver_version, silver)})
    versions = {key: version for key, version, _ in inputs.values()}
    state = last_build(spark, gold_path)
    build = GoldBuild(version=state.version if state else None, silver_version=silver_version,
                      previous_silver_version=state.silver_version if state else None, inputs=versions)
    touched: list[tuple[Any, ...]] | None = None  # None: full rebuild

    if state is None:
        build.reason = "no recorded build"
    elif state.fingerprint != definition:
        build.reason = "definition changed"
    elif (change := input_change(state, versions, own))[0] == "full":
        build.reason = change[1]
    elif change[0] == "skipped":
        build.mode, build.reason = "skipped", change[1]
    else:
        try:
            touched = touched_partitions(spark, gold, silver_path, state.silver_version + 1, silver_version)
        except CDF_UNAVAILABLE as err:
            log.warning(
                "gold %s: silver change feed %s..%s unavailable (%s); rebuilding in full",
                gold.table, state.silver_version + 1, silver_version, error_summary(err),
            )
            build.reason = "change feed unavailable"
            touched = None
        else:
            if touched is not None and not touched:
                build.mode, build.reason = "skipped", "no relevant silver changes"
            elif touched is None:
                build.reason = "silver changed"

    if build.skipped:
        log.info("gold %s: %s since silver version %s; untouched", gold.table, build.reason, silver_version)
        return build

    df = gold_frame(spark, gold, silver, {ref: frame for ref, (_, _, frame) in inputs.items()})
    sandboxed(df, f"gold[{gold.table}]", [silver, *(frame for _, _, frame in inputs.values())])  # before any write
    if gold.checks:  # on the computed result, before the write: a failing `fail` check leaves the table as it is
        from medallion.checks.declared_checks import check_gold

        results = check_gold(spark, df, gold.checks, table=f"gold/{gold.table}", gold_path=gold_path,
                             history_path=checks_path, run=run, key=f"gold ({gold.table})")
        build.checks = {r.name: r.passed for r in results}
    if touched is not None and not _same_schema(spark, gold_path, df):
        touched, build.reason = None, "schema changed"
    tag = CommitTag(
        run.run_id,
        "gold",
        {META_KEY: {"silver_version": silver_version, "inputs": versions, "fingerprint": definition,
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
        where = column_sql(condition)
        writer = df.where(condition).write.format("delta").mode("overwrite").option("userMetadata", meta)
        writer = writer.option("replaceWhere", where)
        build.mode, build.reason, build.partitions_replaced = "partitions", f"{len(touched)} partition(s) touched", len(touched)
        build.replaced_partitions = [
            {c: jsonable(v) for c, v in zip(gold.partition_by, value, strict=True)} for value in touched[:_MAX_LISTED_PARTITIONS]
        ]
    log.info("gold %s: %s build (%s)", gold.table, build.mode, build.reason)
    try:
        writer.save(gold_path)
    except (AnalysisException, CapturedException, Py4JJavaError) as err:
        raise RunError(f"gold table {gold.table!r}: write failed: {error_summary(err)}") from err

    commit = find_commit(spark, gold_path, tag, after=before)
    if commit is None:
        raise RunError(f"gold table at {gold_path}: the write of run {run.run_id} is not in the table history")
    build.version = commit.version
    build.rows_out = commit.metric("numOutputRows")
    build.files_added = commit.metric("numFiles", commit.metric("numAddedFiles"))
    build.files_removed = commit.metric("numRemovedFiles")

    if gold.zorder_by:
        build.zorder = zorder_decision(files_per_partition(spark, gold_path, commit.version), zorder_threshold(spark))
        if build.zorder.run:
            build.optimize = optimize_zorder(spark, gold_path, gold.zorder_by, where=where)
            build.optimized, build.zorder_by = True, list(gold.zorder_by)
        else:
            log.info("gold %s: Z-order skipped (%s)", gold.table, build.zorder.reason)
    return build


def _same_schema(spark: SparkSession, path: str, df: DataFrame) -> bool:
    current = spark.read.format("delta").load(path).schema
    return [(f.name, f.dataType) for f in current] == [(f.name, f.dataType) for f in df.schema]


