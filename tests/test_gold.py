"""Gold: declared aggregates, SQL gold, partition-scoped recompute, no-op runs and Z-order."""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from medallion.audit.outcome import RunContext
from medallion.config import EnvConfig, PipelineConfig
from medallion.config.gold import GoldTable
from medallion.config.validation import validate_gold_sql, validate_gold_table
from medallion.errors import ConfigError, RunError
from medallion.gold.layer import gold_frame, gold_transform, partition_predicate, run_gold
from medallion.gold.zorder import zorder_decision
from medallion.layers import get_layer
from medallion.session import session_conf

SILVER_SCHEMA = "order_id BIGINT, customer_email STRING, amount DECIMAL(12,2), status STRING, updated_at TIMESTAMP"

ROWS = [
    (1, "a@x.com", Decimal("10.00"), "PAID", datetime(2024, 1, 1, 9)),
    (2, "b@x.com", Decimal("20.50"), "PAID", datetime(2024, 1, 1, 10)),
    (3, "a@x.com", Decimal("5.25"), "NEW", datetime(2024, 1, 1, 11)),
    (4, "c@x.com", Decimal("7.00"), "CANCELLED", datetime(2024, 1, 2, 9)),
    (5, "a@x.com", Decimal("1.00"), "PAID", datetime(2024, 1, 2, 9)),
    (6, "d@x.com", Decimal("3.00"), "SHIPPED", datetime(2024, 1, 3, 9)),
    (7, "d@x.com", Decimal("4.00"), "SHIPPED", datetime(2024, 1, 4, 9)),
]

DAILY = {
    "table": "daily_revenue",
    "group_by": ["order_date", "status"],
    "derive": {"order_date": "to_date(updated_at)"},
    "measures": {
        "orders": "count(*)",
        "revenue": "sum(amount)",
        "customers": "count(distinct customer_email)",
    },
    "filter": "status <> 'CANCELLED'",
    "zorder_by": ["status"],
}
DAILY_SCHEMA = "order_date DATE, status STRING, orders BIGINT, revenue DECIMAL(22,2), customers BIGINT"


def silver_df(spark: SparkSession, rows: list[tuple[Any, ...]] = ROWS) -> DataFrame:
    return spark.createDataFrame(rows, SILVER_SCHEMA)


# --------------------------------------------------------------------------- pure transforms


def test_declarative_gold_matches_hand_computed(spark: SparkSession) -> None:
    actual = silver_df(spark).transform(gold_transform(GoldTable(**DAILY)))
    expected = spark.createDataFrame(
        [
            (date(2024, 1, 1), "PAID", 2, Decimal("30.50"), 2),
            (date(2024, 1, 1), "NEW", 1, Decimal("5.25"), 1),
            (date(2024, 1, 2), "PAID", 1, Decimal("1.00"), 1),
            (date(2024, 1, 3), "SHIPPED", 1, Decimal("3.00"), 1),
            (date(2024, 1, 4), "SHIPPED", 1, Decimal("4.00"), 1),
        ],
        DAILY_SCHEMA,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_declarative_gold_without_group_by_is_one_row(spark: SparkSession) -> None:
    gold = GoldTable(table="totals", measures={"orders": "count(*)", "max_amount": "max(amount)"})
    actual = silver_df(spark).transform(gold_transform(gold))
    expected = spark.createDataFrame([(7, Decimal("20.50"))], "orders BIGINT, max_amount DECIMAL(12,2)")
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_sql_gold_matches_hand_computed(spark: SparkSession) -> None:
    gold = GoldTable(
        table="status_stats",
        sql="SELECT status, count(*) AS orders, avg(CAST(amount AS DOUBLE)) AS avg_amount "
        "FROM {silver} WHERE status <> 'CANCELLED' GROUP BY status",
    )
    actual = gold_frame(spark, gold, silver_df(spark))
    expected = spark.createDataFrame(
        [("PAID", 3, 31.5 / 3), ("NEW", 1, 5.25), ("SHIPPED", 2, 3.5)],
        "status STRING, orders BIGINT, avg_amount DOUBLE",
    )
    assert_approx_df_equality(actual, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_partition_predicate_is_null_safe_and_spark_rendered(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("a", 1), ("b", 2), (None, 3), ("it's", 4)], "k STRING, v INT"
    )
    single = partition_predicate(["k"], [("a",), (None,), ("it's",)])
    assert sorted(r.v for r in df.where(single).collect()) == [1, 3, 4]
    multi = partition_predicate(["k", "v"], [("b", 2), (None, 3), ("a", 9)])
    assert sorted(r.v for r in df.where(multi).collect()) == [2, 3]
    assert df.where(partition_predicate(["k"], [])).count() == 0


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT status, count(*) AS n FROM {silver} GROUP BY status",
        "WITH s AS (SELECT * FROM {silver}) SELECT status FROM s",
        "SELECT map('{{a}}', 1) AS m FROM {silver}",
    ],
)
def test_validate_gold_sql_accepts_single_select(spark: SparkSession, sql: str) -> None:
    validate_gold_sql(spark, GoldTable(table="t", sql=sql))


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DROP TABLE {silver}", "single SELECT"),
        ("INSERT INTO x SELECT * FROM {silver}", "single SELECT"),
        ("SELECT * FROM {silver}; SELECT 1", "not valid Spark SQL"),
        ("SELECT * FROM {silver} JOIN {other}", "unknown placeholder"),
        ("SELECT * FROM {silver} JOIN {silver!r}", "unknown placeholder"),
        ("SELECT * FROM {silver} WHERE status =", "not valid Spark SQL"),
    ],
)
def test_validate_gold_sql_rejects(spark: SparkSession, sql: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        validate_gold_sql(spark, GoldTable(table="t", sql=sql), file="p.yaml", key="gold.0.sql")
    assert str(err.value).startswith("p.yaml: gold.0.sql: ")


def test_validate_gold_table_names_the_bad_expression(spark: SparkSession) -> None:
    validate_gold_table(spark, GoldTable(**DAILY), key="gold.0")
    bad = GoldTable(**{**DAILY, "measures": {"orders": "count(*", "revenue": "sum(amount)"}})
    with pytest.raises(ConfigError, match=r"gold\.0\.measures\.orders: not a valid"):
        validate_gold_table(spark, bad, key="gold.0")


# --------------------------------------------------------------------------- Delta I/O


def _pipeline(*gold: dict[str, Any]) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "dataset": "orders",
            "source": {"format": "json", "path": "orders", "source_system": "webshop"},
            "bronze": {"table": "orders"},
            "silver": {
                "table": "orders",
                "keys": ["order_id"],
                "sequence_by": "updated_at",
                "columns": {c.split()[0]: c.split()[0] for c in SILVER_SCHEMA.split(", ")},
            },
            "gold": list(gold),
        }
    )


def _create_silver(spark: SparkSession, path: str, rows: list[tuple[Any, ...]] = ROWS, *, cdf: bool = True) -> None:
    from delta.tables import DeltaTable

    builder = DeltaTable.create(spark).location(path).addColumns(silver_df(spark, []).schema)
    if cdf:
        builder = builder.property("delta.enableChangeDataFeed", "true")
    builder.execute()
    silver_df(spark, rows).write.format("delta").mode("append").save(path)


def _template_silver(spark: SparkSession, templates: Any, path: str) -> None:
    """Silver over ROWS with the change feed on: built once per session, copied to ``path``."""
    templates.copy("gold-silver-orders", lambda folder: _create_silver(spark, str(folder)), path)


def _result(now: datetime, run_id: str) -> RunContext:
    return RunContext(run_id, now)


def _history(spark: SparkSession, path: str) -> list[Any]:
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, path).history().orderBy("version").collect()


def _gold(spark: SparkSession, env: EnvConfig, name: str) -> DataFrame:
    return spark.read.format("delta").load(env.table_path("gold", name))


def _silver(spark: SparkSession, env: EnvConfig) -> DataFrame:
    return spark.read.format("delta").load(env.table_path("silver", "orders"))


def _small_files(spark: SparkSession, records_per_file: int) -> Any:
    """Session settings under which a tiny gold table spreads over several files per partition, each
    partition bigger than one (1-byte) OPTIMIZE output file: there, Z-order pays."""
    return session_conf(spark, {"spark.sql.files.maxRecordsPerFile": str(records_per_file),
                                "spark.databricks.delta.optimize.maxFileSize": "1"})


# --------------------------------------------------------------------------- Z-order decision


def test_zorder_decision_needs_a_partition_with_several_files_above_the_threshold() -> None:
    one_file = zorder_decision({"{}": (1, 5_000)}, 1000)
    assert one_file.run is False and one_file.reason == "every rewritten partition fits in one file"
    small = zorder_decision({"{}": (4, 900)}, 1000)
    assert small.run is False and "fits in one OPTIMIZE output file (1000 bytes)" in small.reason
    one_per_partition = zorder_decision({"a": (1, 5_000), "b": (1, 7_000)}, 1000)
    assert one_per_partition.run is False and one_per_partition.partitions == 2
    big = zorder_decision({"a": (1, 5_000), "b": (3, 7_000)}, 1000)
    assert big.run is True and big.partitions_worth_it == 1
    assert (big.files, big.bytes, big.threshold_bytes) == (4, 12_000, 1000)
    assert zorder_decision({}, 1000).run is False  # an empty write


@pytest.mark.delta
def test_zorder_is_skipped_where_it_cannot_pay_and_the_run_log_says_why(
    spark: SparkSession, env: EnvConfig, now: datetime, lakehouse_templates: Any
) -> None:
    from medallion.audit.run_log import read_run_log
    from medallion.runner import run_pipeline

    pipeline = _pipeline(DAILY)
    _template_silver(spark, lakehouse_templates, env.table_path("silver", "orders"))

    report = run_pipeline(spark, env, pipeline, ["gold"], run_id="run-z", clock=lambda: now)

    (result,) = report.results
    daily = result.details["tables"]["daily_revenue"]
    assert daily["mode"] == "full" and daily["optimized"] is False
    assert daily["zorder"]["run"] is False and daily["zorder"]["threshold_bytes"] == 1024**3
    assert daily["zorder"]["files"] >= 1 and daily["zorder"]["bytes"] > 0
    gold_path = env.table_path("gold", "daily_revenue")
    assert "OPTIMIZE" not in [h.operation for h in _history(spark, gold_path)]
    expected = _silver(spark, env).transform(gold_transform(GoldTable(**DAILY)))
    assert_df_equality(_gold(spark, env, "daily_revenue"), expected, ignore_row_order=True, ignore_nullable=True)
    run_log = read_run_log(spark, env.run_log_path)
    assert run_log is not None
    logged = json.loads(run_log.where("layer = 'gold'").first()["details"])
    assert logged["tables"]["daily_revenue"]["zorder"] == daily["zorder"]


@pytest.mark.delta
def test_full_build_zorders_and_noop_rerun_writes_nothing(spark: SparkSession, env: EnvConfig, now: datetime,
                                                          lakehouse_templates: Any) -> None:
    sql_gold = {
        "table": "status_totals",
        "sql": "SELECT status, count(*) AS orders FROM {silver} GROUP BY status",
    }
    pipeline = _pipeline(DAILY, sql_gold)
    _template_silver(spark, lakehouse_templates, env.table_path("silver", "orders"))

    with _small_files(spark, 2):  # 5 gold rows in 3 files, each above a 1-byte OPTIMIZE file: Z-order pays
        result = run_gold(spark, env, pipeline, _result(now, "run-1"))

    assert get_layer("gold").label(pipeline) == "daily_revenue,status_totals"  # the run log's table
    assert result.status == "succeeded"
    assert result.source_version == 1
    assert result.rows_in == len(ROWS)
    assert result.rows_out == 5 + 4
    daily = result.details["tables"]["daily_revenue"]
    assert daily["mode"] == "full" and daily["rows_out"] == 5 and daily["optimized"] is True
    assert daily["zorder"]["run"] is True and daily["zorder"]["files"] == 3 and daily["zorder"]["threshold_bytes"] == 1
    assert result.details["tables"]["status_totals"]["optimized"] is False
    expected = _silver(spark, env).transform(gold_transform(GoldTable(**DAILY)))
    assert_df_equality(_gold(spark, env, "daily_revenue"), expected, ignore_row_order=True, ignore_nullable=True)

    history = _history(spark, env.table_path("gold", "daily_revenue"))
    assert [h.operation for h in history] == ["CREATE OR REPLACE TABLE", "OPTIMIZE"] or [
        h.operation for h in history
    ] == ["WRITE", "OPTIMIZE"]
    assert json.loads(history[1].operationParameters["zOrderBy"]) == ["status"]
    assert json.loads(history[0].userMetadata)["medallion_gold"]["silver_version"] == 1

    versions = {t: len(_history(spark, env.table_path("gold", t))) for t in ("daily_revenue", "status_totals")}
    again = run_gold(spark, env, pipeline, _result(now, "run-2"))

    assert again.status == "skipped"
    assert again.rows_out == 0 and again.rows_in == 0
    assert {t: m["mode"] for t, m in again.details["tables"].items()} == {
        "daily_revenue": "skipped",
        "status_totals": "skipped",
    }
    assert {t: len(_history(spark, env.table_path("gold", t))) for t in versions} == versions


@pytest.mark.delta
def test_partition_scoped_recompute_rewrites_only_touched_partitions(
    spark: SparkSession, env: EnvConfig, now: datetime, lakehouse_templates: Any
) -> None:
    from delta.tables import DeltaTable

    daily = {**DAILY, "partition_by": ["order_date"]}
    pipeline = _pipeline(daily)
    silver_path = env.table_path("silver", "orders")
    gold_path = env.table_path("gold", "daily_revenue")
    _template_silver(spark, lakehouse_templates, silver_path)
    # Z-order is layout, not data: the first build skips it (faster) without forcing a later full rebuild.
    first = run_gold(spark, env, _pipeline({**daily, "zorder_by": []}), _result(now, "run-1"))
    assert first.details["tables"]["daily_revenue"]["optimized"] is False

    def files_of(day: date) -> set[str]:
        return set(spark.read.format("delta").load(gold_path).where(F.col("order_date") == day).inputFiles())

    untouched_before = files_of(date(2024, 1, 4))
    files_before = {d: files_of(d) for d in (date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3))}
    before = len(_history(spark, gold_path))

    silver = DeltaTable.forPath(spark, silver_path)
    silver.update("order_id = 1", {"amount": F.lit(Decimal("11.00"))})  # stays on 2024-01-01
    silver.update("order_id = 5", {"updated_at": F.lit(datetime(2024, 1, 3, 8))})  # moves 01-02 -> 01-03

    with _small_files(spark, 1):  # one file per gold row: the rewritten partitions hold 2 files each
        result = run_gold(spark, env, pipeline, _result(now, "run-2"))

    metrics = result.details["tables"]["daily_revenue"]
    assert metrics["zorder"]["run"] is True and metrics["zorder"]["partitions"] == 2
    assert metrics["mode"] == "partitions"
    assert metrics["partitions_replaced"] == 3
    assert {p["order_date"] for p in metrics["replaced_partitions"]} == {"2024-01-01", "2024-01-02", "2024-01-03"}
    assert result.source_version == 3 and metrics["previous_silver_version"] == 1

    history = _history(spark, gold_path)
    write, optimize = history[before], history[before + 1]
    assert write.operation == "WRITE"
    predicate = write.operationParameters["predicate"]
    assert "2024-01-01" in predicate and "2024-01-02" in predicate and "2024-01-03" in predicate
    assert "2024-01-04" not in predicate
    # Only the touched partitions' files were removed; 01-02 now has no rows and is gone.
    assert int(write.operationMetrics["numRemovedFiles"]) == sum(len(f) for f in files_before.values())
    assert int(write.operationMetrics["numOutputRows"]) == metrics["rows_out"] == 4  # 01-01: 2, 01-03: 2
    assert files_of(date(2024, 1, 4)) == untouched_before
    assert optimize.operation == "OPTIMIZE"
    assert json.loads(optimize.operationParameters["zOrderBy"]) == ["status"]
    assert "2024-01-04" not in optimize.operationParameters["predicate"]

    expected = spark.read.format("delta").load(silver_path).transform(gold_transform(GoldTable(**daily)))
    assert_df_equality(
        spark.read.format("delta").load(gold_path).select(*expected.columns),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )

    # A silver change the filter excludes (a CANCELLED order) touches no gold partition: no new version.
    before = len(_history(spark, gold_path))
    silver.update("order_id = 4", {"amount": F.lit(Decimal("8.00"))})
    result = run_gold(spark, env, pipeline, _result(now, "run-3"))
    assert result.status == "skipped"
    assert result.details["tables"]["daily_revenue"]["reason"] == "no relevant silver changes"
    assert len(_history(spark, gold_path)) == before


@pytest.mark.delta
def test_sql_gold_partitioned_by_a_silver_column(spark: SparkSession, env: EnvConfig, now: datetime,
                                                 lakehouse_templates: Any) -> None:
    from delta.tables import DeltaTable

    gold = {
        "table": "by_status",
        "sql": "SELECT status, customer_email, sum(amount) AS revenue FROM {silver} GROUP BY status, customer_email",
        "partition_by": ["status"],
    }
    pipeline = _pipeline(gold)
    silver_path = env.table_path("silver", "orders")
    _template_silver(spark, lakehouse_templates, silver_path)
    run_gold(spark, env, pipeline, _result(now, "run-1"))

    DeltaTable.forPath(spark, silver_path).delete("order_id = 6")
    result = run_gold(spark, env, pipeline, _result(now, "run-2"))

    metrics = result.details["tables"]["by_status"]
    assert metrics["mode"] == "partitions"
    assert metrics["replaced_partitions"] == [{"status": "SHIPPED"}]
    expected = spark.createDataFrame(
        [
            ("PAID", "a@x.com", Decimal("11.00")),
            ("PAID", "b@x.com", Decimal("20.50")),
            ("NEW", "a@x.com", Decimal("5.25")),
            ("CANCELLED", "c@x.com", Decimal("7.00")),
            ("SHIPPED", "d@x.com", Decimal("4.00")),
        ],
        "status STRING, customer_email STRING, revenue DECIMAL(22,2)",
    )
    assert_df_equality(
        _gold(spark, env, "by_status").select(*expected.columns),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )


@pytest.mark.delta
def test_full_rebuild_without_change_feed_or_after_definition_change(
    spark: SparkSession, env: EnvConfig, now: datetime
) -> None:
    daily = {**DAILY, "partition_by": ["order_date"], "zorder_by": []}
    silver_path = env.table_path("silver", "orders")
    _create_silver(spark, silver_path, cdf=False)
    run_gold(spark, env, _pipeline(daily), _result(now, "run-1"))

    silver_df(spark, [(8, "e@x.com", Decimal("2.00"), "PAID", datetime(2024, 1, 4, 9))]).write.format("delta").mode(
        "append"
    ).save(silver_path)
    result = run_gold(spark, env, _pipeline(daily), _result(now, "run-2"))
    metrics = result.details["tables"]["daily_revenue"]
    assert (metrics["mode"], metrics["reason"]) == ("full", "change feed unavailable")

    changed = {**daily, "measures": {**daily["measures"], "max_amount": "max(amount)"}}
    result = run_gold(spark, env, _pipeline(changed), _result(now, "run-3"))
    metrics = result.details["tables"]["daily_revenue"]
    assert (metrics["mode"], metrics["reason"]) == ("full", "definition changed")
    expected = _silver(spark, env).transform(gold_transform(GoldTable(**changed)))
    assert_df_equality(
        _gold(spark, env, "daily_revenue").select(*expected.columns),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )


@pytest.mark.delta
def test_missing_silver_is_a_run_error(spark: SparkSession, env: EnvConfig, now: datetime, tmp_path: Path) -> None:
    with pytest.raises(RunError, match="run silver first"):
        run_gold(spark, env, _pipeline(DAILY), _result(now, "run-1"))
