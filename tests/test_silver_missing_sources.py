"""Issue 11.7: a bronze table without some source columns yet (a first delivery of corrupt records only)
is dead-lettered by silver's rules, not a failed run."""
from __future__ import annotations

from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from silver_helpers import pipeline

from medallion.silver.prepare import prepare


def test_missing_source_columns_are_null_and_the_rows_dead_lettered(spark: SparkSession, now: datetime) -> None:
    bronze = spark.createDataFrame(
        [("not json", "f.json", "h1", "run-0")],
        "_corrupt_record STRING, _source_file STRING, _record_hash STRING, _run_id STRING",
    ).withColumn("_bronze_version", F.lit(1).cast("bigint"))
    out = bronze.transform(prepare(pipeline().silver, run_id="r", now=now)).collect()
    assert len(out) == 1
    row = out[0]
    assert row["_quarantined"] is True
    assert "corrupt_record" in row["_failed_rules"] and row["order_id"] is None
    assert row["_bronze"]["_corrupt_record"] == "not json"
