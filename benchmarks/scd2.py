"""Benchmark: a ``history: scd2`` silver run against a bare Delta MERGE-based SCD2 recipe.

Data: ``--rows`` CDC events (default 100,000) over ``rows / 4`` customer keys, written straight into a
bronze Delta table (change data feed on) in two deliveries: the initial load (80 %) and an incremental
one (20 %: new versions, deletes, and 5 % late versions older than what the first delivery held).

* **medallion**: ``run_silver`` with ``history: scd2`` and ``delete_when`` over each delivery
  (cleansing, expectations, dead letters, the events table, re-cut chains, one MERGE).
* **baseline**: the textbook Delta recipe ("staged updates" MERGE: close the current row of every key
  that changed, insert its new current row) over the same cleansed rows, newest version per key per
  delivery. It is what people write by hand; it keeps no intermediate versions of a delivery, does
  not handle late versions (a late one becomes "current") and has no deletes.

Run: ``python -m benchmarks.scd2 [--rows 100000] [--out benchmarks/results/scd2.json]``.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from medallion.audit.outcome import RunContext
from medallion.config import EnvConfig, PipelineConfig

SOURCE_DDL = "customer_id STRING, email STRING, segment STRING, op STRING, updated_at STRING"
PIPELINE: dict[str, Any] = {
    "dataset": "customers",
    "source": {"format": "json", "path": "customers", "source_system": "crm"},
    "bronze": {"table": "customers"},
    "silver": {
        "table": "customers",
        "keys": ["customer_id"],
        "sequence_by": "updated_at",
        "columns": {
            "customer_id": "cast(customer_id as bigint)",
            "email": "lower(trim(email))",
            "segment": "upper(trim(segment))",
            "op": "upper(op)",
            "updated_at": "to_timestamp(updated_at)",
        },
        "expectations": [{"name": "customer_id_present", "expr": "customer_id is not null", "action": "drop"}],
        "history": "scd2",
        "ignore_columns": ["op"],
        "delete_when": "op = 'D'",
    },
}


def events(rows: int, seed: int = 13) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """Two deliveries of CDC events (source strings)."""
    rng = random.Random(seed)
    keys = max(rows // 4, 1)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    first: list[tuple[str, ...]] = []
    second: list[tuple[str, ...]] = []
    for i in range(rows):
        key = i % keys
        version = i // keys
        ts = start + timedelta(hours=version * 6, seconds=key)
        op = "I" if version == 0 else ("D" if rng.random() < 0.05 else "U")
        row = (str(key), f"c{key}@example.com", rng.choice(["consumer", "smb", "enterprise"]), op, ts.strftime("%Y-%m-%d %H:%M:%S"))
        late = version < 3 and rng.random() < 0.05
        (second if version == 3 or late else first).append(row)
    return first, second


def _bronze(spark: SparkSession, records: list[tuple[str, ...]], n: int) -> DataFrame:
    df = spark.createDataFrame([(*r, None) for r in records], SOURCE_DDL + ", _corrupt_record STRING")
    ts = F.lit(f"2026-11-0{n + 1} 10:00:00").cast("timestamp")
    return df.select(
        "*", ts.alias("_ingested_at"), F.lit(f"c-{n}.json").alias("_source_file"), F.lit("crm").alias("_source_system"),
        F.to_date(ts).alias("_processing_date"), F.sha2(F.to_json(F.struct(*sorted(df.columns))), 256).alias("_record_hash"),
        F.lit("bench").alias("_run_id"),
    )


def _append_bronze(spark: SparkSession, path: str, df: DataFrame) -> None:
    if not DeltaTable.isDeltaTable(spark, path):
        (DeltaTable.createIfNotExists(spark).location(path).addColumns(df.schema)
         .property("delta.enableChangeDataFeed", "true").execute())
    df.write.format("delta").mode("append").save(path)


def baseline(spark: SparkSession, pipeline: PipelineConfig, bronze: DataFrame, target: str) -> None:
    """The "staged updates" SCD2 MERGE over one delivery (newest version per key)."""
    silver = pipeline.silver
    assert silver is not None
    cleansed = bronze.select(*[F.expr(e).alias(c) for c, e in silver.columns.items()])
    newest = cleansed.where("customer_id is not null").withColumn(
        "_rn", F.row_number().over(Window.partitionBy("customer_id").orderBy(F.col("updated_at").desc()))
    ).where("_rn = 1").drop("_rn")
    if not DeltaTable.isDeltaTable(spark, target):
        (newest.select("*", F.col("updated_at").alias("_valid_from"), F.lit(None).cast("timestamp").alias("_valid_to"),
                       F.lit(True).alias("_is_current"))
         .write.format("delta").save(target))
        return
    current = spark.read.format("delta").load(target).where("_is_current")
    changed = newest.alias("s").join(current.alias("t"), "customer_id").where(
        "NOT (s.email <=> t.email AND s.segment <=> t.segment)"
    ).select("s.*")
    staged = newest.select(F.col("customer_id").alias("_merge_key"), "*").unionByName(
        changed.select(F.lit(None).cast("bigint").alias("_merge_key"), "*")
    )
    (
        DeltaTable.forPath(spark, target).alias("t")
        .merge(staged.alias("s"), "t.customer_id = s._merge_key AND t._is_current")
        .whenMatchedUpdate(condition="NOT (t.email <=> s.email AND t.segment <=> s.segment)",
                           set={"_is_current": "false", "_valid_to": "s.updated_at"})
        .whenNotMatchedInsert(values={**{c: f"s.{c}" for c in silver.columns}, "_valid_from": "s.updated_at",
                                      "_valid_to": "null", "_is_current": "true"})
        .execute()
    )


def run(spark: SparkSession, rows: int, work: Path) -> dict[str, Any]:
    from medallion.silver.layer import run_silver
    from medallion.silver.plan import read_bronze_changes

    pipeline = PipelineConfig.model_validate(PIPELINE)
    env = EnvConfig(name="bench", landing_root=str(work / "landing"), lakehouse_root=str(work / "lake"))
    bronze_path = env.table_path("bronze", "customers")
    deliveries = events(rows)
    out: dict[str, Any] = {"rows": rows, "deliveries": [len(d) for d in deliveries], "medallion": [], "baseline": []}
    for n, records in enumerate(deliveries):
        _append_bronze(spark, bronze_path, _bronze(spark, records, n))
        version = DeltaTable.forPath(spark, bronze_path).history(1).first()["version"]
        t0 = time.perf_counter()
        outcome = run_silver(spark, env, pipeline, RunContext(f"bench-{n}", datetime.now(UTC)))
        out["medallion"].append({"seconds": round(time.perf_counter() - t0, 2), "rows_in": outcome.rows_in,
                                 "rows_out": outcome.rows_out, "rows_deleted": outcome.rows_deleted,
                                 "rows_superseded": outcome.rows_superseded})
        batch = read_bronze_changes(spark, bronze_path, version, version).cache()
        batch.count()
        t0 = time.perf_counter()
        baseline(spark, pipeline, batch, str(work / "baseline"))
        out["baseline"].append({"seconds": round(time.perf_counter() - t0, 2)})
        batch.unpersist()
    for key in ("medallion", "baseline"):
        out[f"{key}_seconds"] = round(sum(r["seconds"] for r in out[key]), 2)
    out["ratio"] = round(out["medallion_seconds"] / out["baseline_seconds"], 2)
    out["history_rows"] = spark.read.format("delta").load(env.table_path("silver", "customers")).count()
    out["baseline_rows"] = spark.read.format("delta").load(str(work / "baseline")).count()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--out", default="benchmarks/results/scd2.json")
    args = parser.parse_args()
    from medallion.session import get_spark

    spark = get_spark({"spark.master": "local[2]", "spark.sql.shuffle.partitions": "4"}, app_name="medallion-bench-scd2")
    work = Path(tempfile.mkdtemp(prefix="medallion-scd2-"))
    try:
        result = run(spark, args.rows, work)
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)
    result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
