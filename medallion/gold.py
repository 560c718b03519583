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
* After a write that changed data the table is ``OPTIMIZE ... ZORDER BY zorder_by``.

Example:
    >>> result = run_gold(spark, env, pipeline, result, now=now)
    >>> result.details["tables"]["daily_revenue"]["mode"]
    'partitions'
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import TYPE_CHECKING, Any

from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import functions as F

from medallion.config import EnvConfig, GoldTable, PipelineConfig
from medallion.errors import ConfigError, RunError
from medallion.maintenance import optimize_zorder
from medallion.merge import read_change_feed
from medallion.sql import error_summary, quote_identifier

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from medallion.audit import LayerResult

__all__ = [
    "SILVER_PLACEHOLDER",
    "run_gold",
    "build_gold_table",
    "gold_transform",
    "gold_frame",
    "partition_predicate",
    "validate_gold_sql",
    "validate_gold_table",
]

log = logging.getLogger(__name__)

SILVER_PLACEHOLDER = "silver"
"""The name of the placeholder for the silver table in a gold ``sql`` query: ``{silver}``."""

_META_KEY = "medallion_gold"
_CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")
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


def gold_frame(spark: SparkSession, gold: GoldTable, silver: DataFrame) -> DataFrame:
    """The gold table's rows computed from ``silver`` (declarative transform or ``sql`` query)."""
    if gold.sql is None:
        return silver.transform(gold_transform(gold))
    return spark.sql(gold.sql, **{SILVER_PLACEHOLDER: silver})


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


# --------------------------------------------------------------------------- validation


def validate_gold_sql(spark: SparkSession, gold: GoldTable, *, file: str | None = None, key: str | None = None) -> None:
    """Check that ``gold.sql`` is one SELECT query reading silver through ``{silver}``.

    The placeholder is the only replacement field allowed (other braces must be doubled, as in
    ``str.format``); the text is then parsed by Spark's SQL parser with the placeholder replaced by a
    dummy identifier. Nothing is executed.

    Raises:
        ConfigError: naming ``file`` / ``key`` (e.g. ``gold.0.sql``) and what is wrong.
    """
    if gold.sql is None:
        return
    key = key or f"gold[{gold.table}].sql"
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(gold.sql) if name is not None]
    except ValueError as err:
        raise ConfigError(f"invalid braces ({err}); write literal braces as {{{{ and }}}}", file=file, key=key) from err
    bad = sorted({name or "{}" for name, spec, conv in fields if name != SILVER_PLACEHOLDER or spec or conv})
    if bad:
        raise ConfigError(
            f"unknown placeholder(s) {bad}: only {{{SILVER_PLACEHOLDER}}} is allowed "
            "(write literal braces as {{ and }})",
            file=file,
            key=key,
        )
    if not fields:
        raise ConfigError(f"sql must read the silver table through {{{SILVER_PLACEHOLDER}}}", file=file, key=key)
    text = gold.sql.format(**{SILVER_PLACEHOLDER: "`__medallion_silver__`"})
    parser = spark._jsparkSession.sessionState().sqlParser()
    try:
        plan = parser.parsePlan(text)
    except Exception as err:  # ParseException arrives as a captured py4j error
        raise ConfigError(f"not valid Spark SQL: {error_summary(err)}", file=file, key=key) from None
    try:
        query = parser.parseQuery(text)
    except Exception:
        query = None
    # parseQuery accepts a query prefix ("SELECT 1; DROP ..."), parsePlan any one statement: a single
    # SELECT is what both read the same way (expression ids aside).
    if query is None or _tree(plan) != _tree(query):
        raise ConfigError(
            f"must be a single SELECT query, got a {plan.getClass().getSimpleName()} statement", file=file, key=key
        )


def _tree(plan: Any) -> str:
    return re.sub(r"#\d+", "", str(plan.treeString()))


def validate_gold_table(
    spark: SparkSession, gold: GoldTable, *, file: str | None = None, key: str | None = None
) -> None:
    """Parse every expression of one gold entry (``sql`` or ``derive`` / ``measures`` / ``filter``).

    Args:
        spark: any session (only its SQL parser is used).
        gold: the entry.
        file: the pipeline file, for the error message.
        key: the entry's key prefix, e.g. ``gold.0``.

    Raises:
        ConfigError: the first expression that does not parse, naming its key.
    """
    prefix = key or f"gold[{gold.table}]"
    if gold.sql is not None:
        validate_gold_sql(spark, gold, file=file, key=f"{prefix}.sql")
        return
    parser = spark._jsparkSession.sessionState().sqlParser()
    exprs = [(f"{prefix}.derive.{n}", e) for n, e in gold.derive.items()]
    exprs += [(f"{prefix}.measures.{n}", e) for n, e in gold.measures.items()]
    if gold.filter:
        exprs.append((f"{prefix}.filter", gold.filter))
    for where, expr in exprs:
        try:
            parser.parseExpression(expr)
        except Exception as err:
            raise ConfigError(f"not a valid Spark SQL expression: {error_summary(err)}", file=file, key=where) from None


# --------------------------------------------------------------------------- build state


@dataclass(frozen=True)
class BuildState:
    """What the last medallion build of a gold table recorded in its commit."""

    version: int
    silver_version: int
    fingerprint: str


def _fingerprint(gold: GoldTable) -> str:
    # zorder_by changes the layout, not the data: it does not force a rebuild.
    definition = gold.model_dump(mode="json", exclude={"zorder_by"})
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]


def last_build(spark: SparkSession, path: str) -> BuildState | None:
    """The newest build medallion recorded in the gold table's history, or None."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return None
    rows = (
        DeltaTable.forPath(spark, path)
        .history()
        .where(F.col("userMetadata").contains(_META_KEY))
        .orderBy(F.col("version").desc())
        .select("version", "userMetadata")
        .limit(1)
        .collect()
    )
    for row in rows:
        try:
            meta = json.loads(row["userMetadata"])[_META_KEY]
            return BuildState(int(row["version"]), int(meta["silver_version"]), str(meta["fingerprint"]))
        except (ValueError, KeyError, TypeError):
            log.warning("gold table %s: unreadable build metadata at version %s", path, row["version"])
    return None


# --------------------------------------------------------------------------- the layer


def run_gold(
    spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, result: LayerResult, *, now: datetime
) -> LayerResult:
    """Build every gold table of the pipeline from one silver snapshot.

    Fills ``result`` as it goes: ``source_version`` (the silver version read), ``rows_in`` (rows of
    that silver snapshot, when any table was built), ``rows_out`` (gold rows written),
    ``target_version`` (the last gold version written) and ``details["tables"][name]``. Sets
    ``status = "skipped"`` when no table changed.

    Raises:
        RunError: the silver table does not exist, or a write failed.
    """
    from delta.tables import DeltaTable

    if pipeline.silver is None or not pipeline.gold:
        result.status = "skipped"
        result.details["reason"] = "no gold tables declared"
        return result
    result.table = ",".join(g.table for g in pipeline.gold)
    silver_path = env.table_path("silver", pipeline.silver.table)
    if not DeltaTable.isDeltaTable(spark, silver_path):
        raise RunError(f"silver table {pipeline.silver.table!r} does not exist at {silver_path}; run silver first")
    silver_version = int(DeltaTable.forPath(spark, silver_path).history(1).select("version").first()[0])
    result.source_version = silver_version
    silver = spark.read.format("delta").option("versionAsOf", silver_version).load(silver_path)
    tables: dict[str, dict[str, Any]] = {}
    result.details["tables"] = tables
    result.details["silver_version"] = silver_version

    for gold in pipeline.gold:
        metrics = build_gold_table(
            spark,
            gold,
            silver,
            silver_path=silver_path,
            silver_version=silver_version,
            gold_path=env.table_path("gold", gold.table),
            run_id=result.run_id,
            now=now,
        )
        tables[gold.table] = metrics
        if metrics["mode"] != "skipped":
            result.rows_out += metrics["rows_out"]
            result.target_version = metrics["version"]
            if not result.rows_in:
                # Delta answers an unfiltered count from file statistics; no data is re-read.
                result.rows_in = silver.count()

    if all(m["mode"] == "skipped" for m in tables.values()):
        result.status = "skipped"
    return result


def build_gold_table(
    spark: SparkSession,
    gold: GoldTable,
    silver: DataFrame,
    *,
    silver_path: str,
    silver_version: int,
    gold_path: str,
    run_id: str,
    now: datetime,
) -> dict[str, Any]:
    """Build one gold table (full, partition-scoped or not at all) and return its metrics.

    Args:
        spark: the session.
        gold: the table's definition.
        silver: the silver snapshot at ``silver_version``.
        silver_path: where silver lives (for its change feed).
        silver_version: the version ``silver`` was read at; recorded with the write.
        gold_path: where the gold table lives.
        run_id: recorded with the write.
        now: recorded with the write.

    Returns:
        ``{"mode": "full"|"partitions"|"skipped", "reason", "rows_out", "version", "silver_version",
        "replaced_partitions", "partitions_replaced", "optimized", ...}``
    """
    fingerprint = _fingerprint(gold)
    state = last_build(spark, gold_path)
    metrics: dict[str, Any] = {
        "mode": "full",
        "reason": "",
        "rows_out": 0,
        "version": state.version if state else None,
        "silver_version": silver_version,
        "previous_silver_version": state.silver_version if state else None,
        "replaced_partitions": [],
        "partitions_replaced": 0,
        "optimized": False,
    }
    touched: list[tuple[Any, ...]] | None = None  # None: full rebuild

    if state is None:
        metrics["reason"] = "no recorded build"
    elif state.fingerprint != fingerprint:
        metrics["reason"] = "definition changed"
    elif state.silver_version > silver_version:
        metrics["reason"] = f"silver version went back ({state.silver_version} -> {silver_version})"
    elif state.silver_version == silver_version:
        metrics.update(mode="skipped", reason="silver unchanged")
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

    df = gold_frame(spark, gold, silver)
    if touched is not None and not _same_schema(spark, gold_path, df):
        touched, metrics["reason"] = None, "schema changed"
    meta = json.dumps(
        {
            _META_KEY: {
                "silver_version": silver_version,
                "fingerprint": fingerprint,
                "run_id": run_id,
                "built_at": now.isoformat(),
            }
        },
        sort_keys=True,
    )
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

    version, op_metrics = _commit_of(spark, gold_path, run_id)
    metrics["version"] = version
    metrics["rows_out"] = int(op_metrics.get("numOutputRows", 0))
    metrics["files_added"] = int(op_metrics.get("numFiles", op_metrics.get("numAddedFiles", 0)))
    metrics["files_removed"] = int(op_metrics.get("numRemovedFiles", 0))

    if gold.zorder_by:
        z = optimize_zorder(spark, gold_path, gold.zorder_by, where=where)
        metrics.update(optimized=True, zorder_by=list(gold.zorder_by), optimize=z)
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
    changes = changes.drop(*[c for c in _CDF_COLUMNS if c in changes.columns])
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


def _commit_of(spark: SparkSession, path: str, run_id: str) -> tuple[int, dict[str, str]]:
    """The version and operation metrics of this run's write to ``path``."""
    from delta.tables import DeltaTable

    rows = DeltaTable.forPath(spark, path).history(10).select("version", "userMetadata", "operationMetrics").collect()
    for row in rows:
        if row["userMetadata"] and run_id in row["userMetadata"]:
            return int(row["version"]), dict(row["operationMetrics"] or {})
    raise RunError(f"gold table at {path}: the write of run {run_id} is not in the table history")


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
