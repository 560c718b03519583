"""Issue 11.11: per-row expressions read their row only; gold sql reads only the project's tables."""
from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from silver_helpers import ORDERS

from medallion.config import PipelineConfig
from medallion.config.gold import GoldTable
from medallion.config.validation import validate_gold_sql, validate_gold_table, validate_pipeline_sql
from medallion.errors import ConfigError


def _with_column(expr: str) -> PipelineConfig:
    silver = {**ORDERS["silver"], "columns": {**ORDERS["silver"]["columns"], "status": expr}}
    return PipelineConfig.model_validate({**ORDERS, "silver": silver})


@pytest.mark.parametrize(
    "expr",
    [
        "(select max(value) from json.`/etc/hostname`)",
        "exists(select 1 from range(1))",
        "status in (select status from parquet.`/tmp/x`)",
        "upper((select 'x'))",
        "reflect('java.lang.System', 'getenv', 'HOME')",
    ],
)
def test_per_row_expression_reading_outside_its_row_is_refused(spark: SparkSession, expr: str) -> None:
    with pytest.raises(ConfigError, match=r"p\.yaml: silver\.columns\.status: (subqueries|function reflect)"):
        validate_pipeline_sql(spark, _with_column(expr), file="p.yaml")


def test_ordinary_expressions_pass(spark: SparkSession) -> None:
    assert validate_pipeline_sql(spark, _with_column("upper(trim(coalesce(status, 'x')))"), file="p.yaml") >= 1


def test_gold_measure_with_a_subquery_is_refused(spark: SparkSession) -> None:
    bad = GoldTable(table="t", group_by=["status"], measures={"n": "count(*) + (select count(*) from csv.`/x`)"})
    with pytest.raises(ConfigError, match=r"gold\.0\.measures\.n: subqueries"):
        validate_gold_table(spark, bad, key="gold.0")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM {silver} JOIN parquet.`/data/secret` USING (order_id)", "reads 'parquet./data/secret'"),
        ("SELECT * FROM other_db.customers, {silver}", "reads 'other_db.customers'"),
        ("SELECT * FROM range(10), {silver}", "table-valued functions"),
        ("SELECT (SELECT max(x) FROM json.`/etc`) AS m FROM {silver}", "reads 'json./etc'"),
        ("SELECT reflect('java.lang.System', 'getenv', 'X') FROM {silver}", "function reflect"),
    ],
)
def test_gold_sql_may_read_only_its_placeholders(spark: SparkSession, sql: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_gold_sql(spark, GoldTable(table="t", sql=sql), file="p.yaml", key="gold.0.sql")


def test_gold_sql_with_ctes_and_subqueries_over_silver_passes(spark: SparkSession) -> None:
    sql = (
        "WITH s AS (SELECT * FROM {silver}), t AS (SELECT status FROM s) "
        "SELECT status, (SELECT count(*) FROM {silver}) AS total FROM t WHERE status IN (SELECT status FROM s)"
    )
    validate_gold_sql(spark, GoldTable(table="t", sql=sql))
