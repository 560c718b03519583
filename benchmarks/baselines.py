"""Bare-Spark baselines: the minimum equivalent work of each layer, written straight against Spark and Delta.

- bronze: ``spark.read.json(files).write.format("delta").mode("append")``;
- silver: the pipeline's ``columns`` applied to the bronze rows, null keys dropped, the newest version per key
  kept (one window), then one ``DeltaTable.merge(...).whenMatchedUpdateAll().whenNotMatchedInsertAll()``;
- gold: ``derive`` -> ``groupBy(group_by).agg(measures)`` -> overwrite.

No expectations, dead-letter table, audit columns, exactly-once bookkeeping, counts or Z-order: the
ratio medallion/baseline is what those cost.
"""
from __future__ import annotations

from collections.abc import Sequence

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from medallion.config import PipelineConfig
from medallion.config.gold import GoldTable

__all__ = ["bronze_baseline", "silver_batch", "silver_baseline", "gold_baseline"]


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def bronze_baseline(spark: SparkSession, paths: Sequence[str], target: str) -> None:
    """Append the JSON files to a Delta table, schema inferred."""
    spark.read.json(list(paths)).write.format("delta").mode("append").save(target)


def silver_batch(pipeline: PipelineConfig, bronze: DataFrame) -> DataFrame:
    """The deduplicated batch: cleansed columns, non-null keys, newest ``sequence_by`` per key."""
    silver = pipeline.silver
    assert silver is not None
    df = bronze.select(*[F.expr(expr).alias(name) for name, expr in silver.columns.items()])
    df = df.where(" and ".join(f"{_q(k)} is not null" for k in silver.keys))
    window = Window.partitionBy(*[F.col(_q(k)) for k in silver.keys]).orderBy(F.col(_q(silver.sequence_by)).desc())
    return df.withColumn("_rn", F.row_number().over(window)).where("_rn = 1").drop("_rn")


def silver_baseline(spark: SparkSession, pipeline: PipelineConfig, bronze: DataFrame, target: str) -> None:
    """One MERGE of the deduplicated batch into ``target`` (created empty first if missing)."""
    silver = pipeline.silver
    assert silver is not None
    batch = silver_batch(pipeline, bronze)
    if not DeltaTable.isDeltaTable(spark, target):
        DeltaTable.createIfNotExists(spark).location(target).addColumns(batch.schema).execute()
    condition = " and ".join(f"t.{_q(k)} = s.{_q(k)}" for k in silver.keys)
    (
        DeltaTable.forPath(spark, target).alias("t")
        .merge(batch.alias("s"), condition)
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


def gold_baseline(spark: SparkSession, gold: GoldTable, silver: DataFrame, target: str) -> None:
    """One aggregate over silver, overwriting ``target``."""
    df = silver
    if gold.derive:
        df = df.withColumns({name: F.expr(expr) for name, expr in gold.derive.items()})
    if gold.filter:
        df = df.where(F.expr(gold.filter))
    out = df.groupBy(*[F.col(_q(c)) for c in gold.group_by]).agg(
        *[F.expr(expr).alias(name) for name, expr in gold.measures.items()]
    )
    out.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(target)
