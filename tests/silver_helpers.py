"""Test data for silver: the contract's orders pipeline and bronze tables built directly in Delta."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from medallion.audit.outcome import RunContext
from medallion.config import PipelineConfig

SOURCE_DDL = "order_id STRING, customer_email STRING, amount STRING, status STRING, updated_at STRING"
BRONZE_DDL = (
    SOURCE_DDL + ", _corrupt_record STRING, _ingested_at TIMESTAMP, _source_file STRING, "
    "_source_system STRING, _processing_date DATE, _record_hash STRING, _run_id STRING"
)
SILVER_DDL = (
    "order_id BIGINT, customer_email STRING, amount DECIMAL(12,2), status STRING, updated_at TIMESTAMP"
)

ORDERS: dict[str, Any] = {
    "dataset": "orders",
    "source": {"format": "json", "path": "orders", "source_system": "webshop"},
    "bronze": {"table": "orders"},
    "silver": {
        "table": "orders",
        "keys": ["order_id"],
        "sequence_by": "updated_at",
        "columns": {
            "order_id": "cast(order_id as bigint)",
            "customer_email": "lower(trim(customer_email))",
            "amount": "cast(amount as decimal(12,2))",
            "status": "upper(trim(status))",
            "updated_at": "to_timestamp(updated_at)",
        },
        "expectations": [
            {"name": "order_id_present", "expr": "order_id is not null", "action": "drop"},
            {"name": "amount_non_negative", "expr": "amount >= 0", "action": "drop"},
            {"name": "known_status", "expr": "status in ('NEW', 'PAID', 'SHIPPED', 'CANCELLED')", "action": "warn"},
        ],
        "dlq_table": "orders_dlq",
    },
}


def pipeline(**silver_overrides: Any) -> PipelineConfig:
    """The contract's orders pipeline, with silver keys overridden."""
    data = {**ORDERS, "silver": {**ORDERS["silver"], **silver_overrides}}
    return PipelineConfig.model_validate(data)


def new_result(run_id: str, now: datetime) -> RunContext:
    return RunContext(run_id, now)


def bronze_frame(
    spark: SparkSession,
    records: list[tuple[Any, ...]],
    *,
    source_file: str = "orders-1.json",
    ingested_at: str = "2026-11-26 10:00:00",
    corrupt: list[str] = (),  # type: ignore[assignment]
) -> DataFrame:
    """Bronze rows with the lead's layout: source records (5 strings) plus raw corrupt lines."""
    rows = [(*r, None) for r in records] + [(None,) * 5 + (line,) for line in corrupt]
    df = spark.createDataFrame(rows, SOURCE_DDL + ", _corrupt_record STRING")
    data_cols = sorted(df.columns)
    ts = F.lit(ingested_at).cast("timestamp")
    return df.select(
        "*",
        ts.alias("_ingested_at"),
        F.lit(source_file).alias("_source_file"),
        F.lit("webshop").alias("_source_system"),
        F.to_date(ts).alias("_processing_date"),
        F.sha2(F.to_json(F.struct(*data_cols)), 256).alias("_record_hash"),
        F.lit("bronze-run").alias("_run_id"),
    )


def append_bronze(spark: SparkSession, path: str, df: DataFrame) -> None:
    """Append to a bronze table (created with change data feed on, partitioned by _processing_date)."""
    if not DeltaTable.isDeltaTable(spark, path):
        (DeltaTable.createIfNotExists(spark).location(path).addColumns(df.schema)
         .partitionedBy("_processing_date").property("delta.enableChangeDataFeed", "true").execute())
    df.write.format("delta").mode("append").option("mergeSchema", "true").save(path)


def read(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)
