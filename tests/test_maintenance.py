"""Maintenance: the VACUUM retention guard, compaction and VACUUM of every table of a pipeline."""
from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from medallion.config import EnvConfig, MaintenanceConfig, PipelineConfig
from medallion.errors import ConfigError
from medallion.maintenance import SAFE_RETENTION_HOURS, check_retention, maintain
from medallion.sql import quote_identifier

PIPELINE = PipelineConfig.model_validate(
    {
        "dataset": "orders",
        "source": {"format": "json", "path": "orders", "source_system": "webshop"},
        "bronze": {"table": "orders"},
        "silver": {"table": "orders", "keys": ["order_id"], "sequence_by": "ts", "columns": {"order_id": "id", "ts": "ts"}},
        "gold": [{"table": "totals", "measures": {"n": "count(*)"}}],
    }
)


def _env(env: EnvConfig, **maintenance: object) -> EnvConfig:
    return env.model_copy(update={"maintenance": MaintenanceConfig(**maintenance)})


def test_quote_identifier_doubles_backticks() -> None:
    assert quote_identifier("order date") == "`order date`"
    assert quote_identifier("a`b") == "`a``b`"


def test_retention_defaults_to_seven_days(env: EnvConfig) -> None:
    assert check_retention(env) == SAFE_RETENTION_HOURS == 168
    assert check_retention(_env(env, vacuum_retention_hours=720)) == 720


def test_retention_below_safety_limit_is_refused_naming_the_value(env: EnvConfig) -> None:
    with pytest.raises(ConfigError, match=r"maintenance\.vacuum_retention_hours: .*100 hours.*168") as err:
        check_retention(_env(env, vacuum_retention_hours=100))
    assert err.value.exit_code == 2
    with pytest.raises(ConfigError, match=r"--retention-hours: VACUUM retention of 24 hours"):
        check_retention(env, retention_hours=24)


def test_retention_override_by_flag_or_environment(env: EnvConfig) -> None:
    assert check_retention(env, retention_hours=24, allow_unsafe=True) == 24
    assert check_retention(_env(env, vacuum_retention_hours=0, allow_unsafe_retention=True)) == 0
    with pytest.raises(ConfigError, match="must not be negative"):
        check_retention(env, retention_hours=-1, allow_unsafe=True)


def _bronze_in_three_files(spark: SparkSession, path: str) -> None:
    for i in range(3):
        spark.createDataFrame([(i, f"r{i}")], "id INT, v STRING").coalesce(1).write.format("delta").mode(
            "append"
        ).save(path)


def _parquet_files(path: str) -> int:
    return sum(1 for _ in Path(path).glob("*.parquet"))


@pytest.mark.delta
def test_maintain_refuses_unsafe_retention_before_touching_any_table(spark: SparkSession, env: EnvConfig) -> None:
    from delta.tables import DeltaTable

    bronze = env.table_path("bronze", "orders")
    _bronze_in_three_files(spark, bronze)

    with pytest.raises(ConfigError, match="below Delta's safety limit"):
        maintain(spark, env, PIPELINE, retention_hours=1)

    assert DeltaTable.forPath(spark, bronze).history().count() == 3
    assert _parquet_files(bronze) == 3

    # The safe default compacts but deletes nothing younger than 7 days; missing tables are skipped.
    report = maintain(spark, env, PIPELINE)
    by_table = {r["table"]: r for r in report}
    assert set(by_table) == {"bronze/orders", "silver/orders", "silver/orders_dlq", "gold/totals"}
    assert {t: r["status"] for t, r in by_table.items() if t != "bronze/orders"} == dict.fromkeys(
        ["silver/orders", "silver/orders_dlq", "gold/totals"], "skipped"
    )
    bronze_report = by_table["bronze/orders"]
    assert bronze_report["status"] == "maintained"
    assert (bronze_report["files_removed"], bronze_report["files_added"]) == (3, 1)
    assert bronze_report["retention_hours"] == 168
    assert _parquet_files(bronze) == 4
    assert "OPTIMIZE" in {r.operation for r in DeltaTable.forPath(spark, bronze).history().collect()}

    # An explicit override vacuums the compacted-away files, then restores Delta's own check.
    report = maintain(spark, env, PIPELINE, retention_hours=0, allow_unsafe=True)
    assert report[0]["table"] == "bronze/orders" and report[0]["retention_hours"] == 0
    assert _parquet_files(bronze) == 1
    assert spark.read.format("delta").load(bronze).count() == 3
    assert spark.conf.get("spark.databricks.delta.retentionDurationCheck.enabled", "true") == "true"
