"""ANSI mode (on by default in Spark 4) does not change which rows reach the dead-letter table.

The decision (README, "Spark 3.5 and Spark 4"): every session medallion starts or reuses runs with
``spark.sql.ansi.enabled=false`` unless the environment file says otherwise, and silver's cleansing and
expectations run with ANSI off whatever the session says, so a value that fails to cast is null and is
dead-lettered by the rule that needs it, on Spark 3.5 and Spark 4 alike.
"""
from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from silver_helpers import append_bronze, bronze_frame, new_result, pipeline, read

from medallion.session import RUNTIME_DEFAULTS, get_spark, session_conf
from medallion.silver.layer import run_silver

pytestmark = pytest.mark.runtimes  # CI runs this file on Spark 3.5 and Spark 4

ROWS = [
    ("ORD-1", "a@x.com", "10.00", "NEW", "2026-11-01 10:00:00"),   # order_id fails its cast to bigint
    ("2", "b@x.com", "ten", "PAID", "2026-11-01 10:00:00"),         # amount fails its cast to decimal
    ("3", "c@x.com", "30.00", "PAID", "2026-11-01 10:00:00"),
]


def test_sessions_run_with_ansi_off_unless_the_env_file_says_otherwise(spark) -> None:  # noqa: ANN001
    assert RUNTIME_DEFAULTS["spark.sql.ansi.enabled"] == "false"
    assert spark.conf.get("spark.sql.ansi.enabled") == "false"  # the tests' session came from get_spark
    with session_conf(spark, {"spark.sql.ansi.enabled": "true"}):
        # a reused session takes the env file's setting over medallion's default
        assert get_spark({"spark.sql.ansi.enabled": "true"}).conf.get("spark.sql.ansi.enabled") == "true"
    get_spark({})  # and medallion's default again when the env file says nothing
    assert spark.conf.get("spark.sql.ansi.enabled") == "false"


@pytest.mark.delta
@pytest.mark.parametrize("ansi", ["true", "false"])
def test_failed_casts_are_dead_lettered_whatever_the_ansi_setting(spark, env, now, ansi: str) -> None:  # noqa: ANN001
    p = pipeline()
    bronze_path = env.table_path("bronze", p.bronze.table)
    append_bronze(spark, bronze_path, bronze_frame(spark, ROWS))
    with session_conf(spark, {"spark.sql.ansi.enabled": ansi}):
        outcome = run_silver(spark, env, p, new_result("run-1", now))
    assert (outcome.rows_in, outcome.rows_out, outcome.rows_quarantined) == (3, 1, 2)
    dlq = read(spark, env.table_path("silver", p.silver.dlq)).select("order_id", "amount", "_failed_rules")
    expected = spark.createDataFrame(
        [("ORD-1", "10.00", ["order_id_present"]), ("2", "ten", ["amount_non_negative"])],
        "order_id STRING, amount STRING, _failed_rules ARRAY<STRING>",
    )
    assert_df_equality(dlq, expected, ignore_row_order=True, ignore_nullable=True)
    silver = read(spark, env.table_path("silver", p.silver.table)).select("order_id", F.col("amount").cast("string"))
    assert [tuple(r) for r in silver.collect()] == [(3, "30.00")]
