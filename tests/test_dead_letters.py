"""The dead-letter status is a column from the table's creation and says ``pending``; an older table
(no status columns, or a null status) is migrated on its next write."""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F
from silver_helpers import append_bronze, bronze_frame, new_result, pipeline, read

from medallion.delta_table import latest_version
from medallion.silver.dead_letters import STATUS_TYPES, migrate_status
from medallion.silver.layer import run_silver

P = pipeline(expectations=[{"name": "amount_non_negative", "expr": "amount >= 0", "action": "drop"}])
BAD_1 = [("1", "a@x.com", "-1.00", "NEW", "2026-11-01 10:00:00"), ("2", "b@x.com", "-2.00", "NEW", "2026-11-01 10:00:00")]
BAD_2 = [("3", "c@x.com", "-3.00", "NEW", "2026-11-02 10:00:00")]


def _paths(env):
    return env.table_path("bronze", P.bronze.table), env.table_path("silver", P.silver.dlq)


@pytest.mark.delta
def test_status_is_pending_from_the_tables_creation(spark, env, now):
    bronze_path, dlq_path = _paths(env)
    append_bronze(spark, bronze_path, bronze_frame(spark, BAD_1, source_file="orders-1.json"))
    run_silver(spark, env, P, new_result("silver-1", now))

    dead = read(spark, dlq_path)
    assert list(STATUS_TYPES) == [c for c in dead.columns if c in STATUS_TYPES]
    assert dead.where("_dlq_status = 'pending'").count() == dead.count() == 2  # the filter people write works
    assert dead.where(F.col("_dlq_status_run_id").isNotNull() | F.col("_dlq_discarded_by").isNotNull()).count() == 0
    version = latest_version(spark, dlq_path)
    migrate_status(spark, dlq_path)  # a current table: nothing to do, nothing committed
    assert latest_version(spark, dlq_path) == version


@pytest.mark.delta
def test_an_older_table_is_migrated_on_its_next_write(spark, env, now):
    bronze_path, dlq_path = _paths(env)
    append_bronze(spark, bronze_path, bronze_frame(spark, BAD_1, source_file="orders-1.json"))
    run_silver(spark, env, P, new_result("silver-1", now))
    # the table as a medallion before the status columns wrote it
    legacy = read(spark, dlq_path).drop(*STATUS_TYPES)
    legacy.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(dlq_path)
    assert "_dlq_status" not in read(spark, dlq_path).columns

    append_bronze(spark, bronze_path, bronze_frame(spark, BAD_2, source_file="orders-2.json"))
    outcome = run_silver(spark, env, P, new_result("silver-2", now))

    assert outcome.rows_quarantined == 1
    rows = {(r.order_id, r._dlq_status, r._quarantine_run_id) for r in read(spark, dlq_path).collect()}
    assert rows == {("1", "pending", "silver-1"), ("2", "pending", "silver-1"), ("3", "pending", "silver-2")}


@pytest.mark.delta
def test_a_null_status_means_pending_and_is_rewritten(spark, env, now):
    bronze_path, dlq_path = _paths(env)
    append_bronze(spark, bronze_path, bronze_frame(spark, BAD_1, source_file="orders-1.json"))
    run_silver(spark, env, P, new_result("silver-1", now))
    spark.sql(f"UPDATE delta.`{dlq_path}` SET _dlq_status = NULL WHERE order_id = '1'")  # a first dlq command's table

    migrate_status(spark, dlq_path)

    assert {(r.order_id, r._dlq_status) for r in read(spark, dlq_path).collect()} == {("1", "pending"), ("2", "pending")}
