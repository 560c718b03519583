"""Reading what a range of Delta versions appended: the direct Parquet read equals Delta's change feed
whenever it answers, and declines (None) whenever it could differ."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import functions as F
from silver_helpers import append_bronze, bronze_frame, new_result, pipeline

from medallion import delta_appends
from medallion.config import EnvConfig
from medallion.delta_appends import read_appended
from medallion.delta_table import read_change_feed
from medallion.silver import plan
from medallion.silver.layer import run_silver

pytestmark = pytest.mark.runtimes  # Delta's log and protocol differ between 3.2 and 4.2: CI runs this on both

SCHEMA = "id BIGINT, v STRING, day DATE"
DAY1, DAY2 = dt.date(2026, 12, 1), dt.date(2026, 12, 2)


@pytest.fixture(autouse=True)
def change_feed_on(spark):
    """Tables created here record their change feed, the reference every direct read is compared with."""
    spark.conf.set("spark.databricks.delta.properties.defaults.enableChangeDataFeed", "true")
    yield
    spark.conf.unset("spark.databricks.delta.properties.defaults.enableChangeDataFeed")


def _append(spark, path, rows, schema=SCHEMA, *, partition_by="day", merge_schema=False):
    writer = spark.createDataFrame(rows, schema).write.format("delta").mode("append").partitionBy(partition_by)
    writer.option("mergeSchema", str(merge_schema).lower()).save(path)


def _change_feed(spark, path, start, end):
    changes = read_change_feed(spark, path, start, end)
    return changes.where("_change_type = 'insert'").drop("_change_type", "_commit_timestamp")


def test_appends_read_directly_equal_the_change_feed(spark, tmp_path):
    path = str(tmp_path / "t")
    _append(spark, path, [(1, "a", DAY1), (2, "b", DAY2)])                       # v0
    _append(spark, path, [(3, "c", DAY1), (4, None, None)])                      # v1: a null partition value
    _append(spark, path, [(5, "d", DAY2, 7)], "id BIGINT, v STRING, day DATE, n INT", merge_schema=True)  # v2: a new column
    _append(spark, path, [(6, "e", DAY1, None)], "id BIGINT, v STRING, day DATE, n INT")  # v3

    direct = read_appended(spark, path, 1, 3)

    assert direct is not None
    assert direct.columns == ["id", "v", "day", "n", "_commit_version"]
    assert_df_equality(direct, _change_feed(spark, path, 1, 3), ignore_row_order=True, ignore_column_order=True,
                       ignore_nullable=True)
    assert sorted(direct.select("id", "n", "_commit_version").collect()) == [
        (3, None, 1), (4, None, 1), (5, 7, 2), (6, None, 3)]  # rows before the new column read it as null


def test_partition_values_come_from_the_log_whatever_they_hold(spark, tmp_path):
    path = str(tmp_path / "t")
    odd = ["a b", "50%", "x=y/z", "*[?]", "ü", ""]  # escaped in directory names; "" is a null partition
    _append(spark, path, list(enumerate(odd)), "id BIGINT, p STRING", partition_by="p")
    _append(spark, path, [(9, "a b"), (10, "ü")], "id BIGINT, p STRING", partition_by="p")

    direct = read_appended(spark, path, 0, 1)

    assert direct is not None
    assert_df_equality(direct, _change_feed(spark, path, 0, 1), ignore_row_order=True, ignore_nullable=True)
    assert direct.count() == 8


def test_a_shallow_clone_whose_log_names_the_source_files_by_absolute_path_reads_them(spark, tmp_path):
    source, clone = str(tmp_path / "src"), str(tmp_path / "clone")
    _append(spark, source, [(1, "a", DAY1), (2, "b", DAY2)])
    spark.sql(f"CREATE TABLE delta.`{clone}` SHALLOW CLONE delta.`{source}`")  # e.g. a test lake cloned from prod
    _append(spark, clone, [(3, "c", DAY1)])

    direct = read_appended(spark, clone, 0, 1)

    assert direct is not None
    assert_df_equality(direct, _change_feed(spark, clone, 0, 1), ignore_row_order=True, ignore_nullable=True)
    assert direct.count() == 3


def test_a_path_spark_would_read_as_a_glob_is_left_to_the_change_feed(spark, tmp_path):
    path = str(tmp_path / "t")
    _append(spark, path, [(1, "{x}")], "id BIGINT, p STRING", partition_by="p")  # Spark leaves "}" unescaped

    assert read_appended(spark, path, 0, 0) is None


@pytest.mark.parametrize("change", ["optimize", "delete", "update"])
def test_a_range_that_did_more_than_append_is_left_to_the_change_feed(spark, tmp_path, change):
    path = str(tmp_path / "t")
    _append(spark, path, [(1, "a", DAY1)])
    _append(spark, path, [(2, "b", DAY1)])
    table = DeltaTable.forPath(spark, path)
    if change == "optimize":
        table.optimize().executeCompaction()  # remove + add, no data change
    elif change == "delete":
        table.delete("id = 1")
    else:
        table.update("id = 2", {"v": F.lit("z")})
    _append(spark, path, [(3, "c", DAY2)])

    assert read_appended(spark, path, 0, 3) is None
    assert read_appended(spark, path, 0, 1) is not None  # the appends before it still qualify
    assert read_appended(spark, path, 3, 3) is not None


def test_a_table_beyond_reader_protocol_1_is_left_to_the_change_feed(spark, tmp_path):
    path = str(tmp_path / "t")
    _append(spark, path, [(1, "a", DAY1)])
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    _append(spark, path, [(2, "b", DAY1)])

    assert read_appended(spark, path, 0, 0) is None
    assert read_appended(spark, path, 2, 2) is None


def test_a_range_that_needs_too_many_scans_is_left_to_the_change_feed(spark, tmp_path, monkeypatch):
    path = str(tmp_path / "t")
    _append(spark, path, [(1, "a", DAY1), (2, "b", DAY2)])
    monkeypatch.setattr(delta_appends, "MAX_SCANS", 1)

    assert read_appended(spark, path, 0, 0) is None
    monkeypatch.setattr(delta_appends, "MAX_SCANS", 2)
    assert read_appended(spark, path, 0, 0) is not None


def test_versions_that_added_nothing_give_no_rows_with_the_columns(spark, tmp_path):
    path = str(tmp_path / "t")
    _append(spark, path, [(1, "a", DAY1)])
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('medallion.note' = 'x')")

    direct = read_appended(spark, path, 1, 1)

    assert direct is not None
    assert direct.columns == ["id", "v", "day", "_commit_version"]
    assert direct.count() == 0


DELIVERIES = [  # (order_id, customer_email, amount, status, updated_at), one bronze commit each
    [("1", "a@x", "10", "NEW", "2026-11-26 10:00:00"), ("2", "b@x", "-5", "NEW", "2026-11-26 10:00:00")],
    [("1", "a@x", "12", "PAID", "2026-11-26 11:00:00"), ("3", "c@x", "7", "NEW", "2026-11-26 11:00:00")],
    [("3", "c@x", "8", "SHIPPED", "2026-11-26 12:00:00"), ("4", "d@x", "1", "NEW", "2026-11-26 12:00:00")],
    [("1", "a@x", "9", "NEW", "2026-11-26 09:00:00"), ("5", None, "3", "bogus", "2026-11-27 08:00:00")],  # late, odd
]


def _silver_through(spark, root, now, *, direct: bool, monkeypatch):
    """Bronze deliveries into a lake under ``root``, silver run after each of them but the first; bronze is
    compacted (``medallion maintenance`` does the same) before the third delivery. Returns the outcomes and
    which reader each silver run used."""
    used = []

    def spy(*args):
        rows = read_appended(*args) if direct else None
        used.append("direct" if rows is not None else "change feed")
        return rows

    monkeypatch.setattr(plan, "read_appended", spy)
    env = EnvConfig(name="t", landing_root=str(root / "landing"), lakehouse_root=str(root / "my lake 50%25"))
    p = pipeline()
    bronze = env.table_path("bronze", "orders")
    outcomes = []
    for i, records in enumerate(DELIVERIES):
        if i == 2:
            DeltaTable.forPath(spark, bronze).optimize().executeCompaction()
        append_bronze(spark, bronze, bronze_frame(spark, records, source_file=f"orders-{i}.json",
                                                  ingested_at=f"2026-11-26 1{i}:30:00"))
        if i:
            outcomes.append(run_silver(spark, env, p, new_result(f"run-{i}", now)))
    tables = [spark.read.format("delta").load(env.table_path("silver", t)) for t in ("orders", "orders_dlq")]
    return outcomes, used, tables


def test_silver_is_the_same_through_either_reader_in_a_lake_with_an_odd_path_after_a_compaction(
        spark, tmp_path, now, monkeypatch):
    direct = _silver_through(spark, tmp_path / "a", now, direct=True, monkeypatch=monkeypatch)
    feed = _silver_through(spark, tmp_path / "b", now, direct=False, monkeypatch=monkeypatch)

    # the compaction in the second run's range sends it to the change feed; the runs around it read directly
    assert direct[1] == ["direct", "change feed", "direct"]
    assert [(o.rows_in, o.rows_out, o.rows_quarantined, o.rows_superseded) for o in direct[0]] == \
           [(o.rows_in, o.rows_out, o.rows_quarantined, o.rows_superseded) for o in feed[0]]
    for ours, theirs in zip(direct[2], feed[2], strict=True):
        assert_df_equality(ours, theirs, ignore_row_order=True, ignore_nullable=True)
    assert direct[2][0].count() == 4  # keys 1, 3, 4, 5 (2 was dead-lettered), key 1 at 12 PAID despite the late 9
    assert direct[2][0].where("order_id = 1").select("status").head()[0] == "PAID"
