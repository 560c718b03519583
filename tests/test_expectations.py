"""Pure tests of cleansing and expectations: Columns only, no Delta I/O."""
from __future__ import annotations

import pytest
from chispa import assert_df_equality
from silver_helpers import ORDERS

from medallion.columns import FAILED_RULES, QUARANTINED, WARNED, reserved
from medallion.config import Expectation
from medallion.errors import ConfigError
from medallion.silver.expectations import check_expectations, cleanse, quality_aggregates, split
from medallion.sql import quote_identifier

COLUMNS = ORDERS["silver"]["columns"]
RULES = [Expectation(**e) for e in ORDERS["silver"]["expectations"]]
RAW_DDL = "order_id STRING, customer_email STRING, amount STRING, status STRING, updated_at STRING, _corrupt_record STRING"


def test_quote_doubles_backticks():
    assert quote_identifier("a") == "`a`"
    assert quote_identifier("we`ird") == "`we``ird`"


def test_cleanse_casts_and_normalises_keeping_the_bronze_row(spark):
    raw = spark.createDataFrame(
        [(" 7 ", " Ann@X.com ", "12.50", " paid", "2026-11-01 10:00:00", None),
         ("x", None, "abc", None, "not a time", None)],
        RAW_DDL,
    )
    out = raw.transform(cleanse(COLUMNS))
    expected = spark.createDataFrame(
        [(7, "ann@x.com", "12.50", "PAID"), (None, None, None, None)],
        "order_id BIGINT, customer_email STRING, amount STRING, status STRING",
    )
    actual = out.select("order_id", "customer_email", out["amount"].cast("string").alias("amount"), "status")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    # cast failures become null, the original text stays in _bronze for the dead-letter table
    assert out.schema["updated_at"].dataType.simpleString() == "timestamp"
    assert [r["_bronze"]["amount"] for r in out.orderBy("order_id").collect()] == ["abc", "12.50"]


def test_cleanse_rejects_reserved_names_and_names_the_bad_key(spark):
    raw = spark.createDataFrame([("1", None, None, None, None, None)], RAW_DDL)
    assert reserved({"_run_id": "order_id", "order_id": "order_id"}) == ["_run_id"]  # refused by the config model
    with pytest.raises(ConfigError, match=r"silver\.columns\.total"):
        raw.transform(cleanse({"order_id": "order_id", "total": "no_such_column + 1"}))
    with pytest.raises(ConfigError, match=r"silver\.columns\.bad"):
        raw.transform(cleanse({"bad": "cast(order_id as"}))


def _checked(spark, rows, *, keys=("order_id",)):
    ddl = "order_id BIGINT, amount DOUBLE, status STRING, corrupt BOOLEAN"
    df = spark.createDataFrame(rows, ddl)
    from pyspark.sql import functions as F

    return df.transform(check_expectations(RULES, keys=keys, corrupt=F.col("corrupt"))).drop("corrupt")


def test_every_failed_rule_is_listed_in_one_pass_and_null_fails(spark):
    out = _checked(
        spark,
        [
            (1, 10.0, "NEW", False),       # clean
            (2, 5.0, "LOST", False),       # warn only -> stays valid, warned
            (None, -1.0, "LOST", False),   # three failures, in declaration order
            (3, None, "PAID", False),      # null amount fails amount_non_negative
            (4, 1.0, None, False),         # null status fails the warn rule
            (None, None, None, True),      # corrupt: one reason, no rule evaluated
        ],
    )
    expected = spark.createDataFrame(
        [
            (1, 10.0, "NEW", [], False, False),
            (2, 5.0, "LOST", ["known_status"], False, True),
            (None, -1.0, "LOST", ["order_id_present", "amount_non_negative", "known_status"], True, True),
            (3, None, "PAID", ["amount_non_negative"], True, False),
            (4, 1.0, None, ["known_status"], False, True),
            (None, None, None, ["corrupt_record"], True, False),
        ],
        f"order_id BIGINT, amount DOUBLE, status STRING, {FAILED_RULES} ARRAY<STRING>, {QUARANTINED} BOOLEAN, "
        f"{WARNED} BOOLEAN",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_null_key_guard_applies_only_when_no_drop_rule_caught_the_row(spark):
    rules = [Expectation(name="amount_non_negative", expr="amount >= 0", action="drop")]
    df = spark.createDataFrame([(None, 1.0), (None, -1.0)], "order_id BIGINT, amount DOUBLE")
    out = df.transform(check_expectations(rules, keys=["order_id"])).select("amount", FAILED_RULES, QUARANTINED)
    expected = spark.createDataFrame(
        [(1.0, ["null_key"], True), (-1.0, ["amount_non_negative"], True)],
        f"amount DOUBLE, {FAILED_RULES} ARRAY<STRING>, {QUARANTINED} BOOLEAN",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_fail_rules_do_not_quarantine_and_no_rules_means_an_empty_array(spark):
    rules = [Expectation(name="positive", expr="amount > 0", action="fail")]
    df = spark.createDataFrame([(1, -1.0)], "order_id BIGINT, amount DOUBLE")
    row = df.transform(check_expectations(rules, keys=["order_id"])).head()
    assert (row[FAILED_RULES], row[QUARANTINED], row[WARNED]) == (["positive"], False, False)
    row = df.transform(check_expectations([], keys=["order_id"])).head()
    assert (row[FAILED_RULES], row[QUARANTINED]) == ([], False)


def test_split_and_one_aggregation(spark):
    out = _checked(
        spark,
        [(1, 10.0, "NEW", False), (2, 5.0, "LOST", False), (None, -1.0, "LOST", False), (None, None, None, True)],
    )
    valid, quarantined = split(out)
    assert sorted(r.order_id for r in valid.collect()) == [1, 2]
    assert quarantined.count() == 2
    summary = out.agg(*quality_aggregates(RULES)).head().asDict()
    assert summary == {
        "rows_in": 4,
        "rows_corrupt": 1,
        "rows_quarantined": 2,
        "rows_warned": 1,
        "null_key": 0,
        "rule:order_id_present": 1,
        "rule:amount_non_negative": 1,
        "rule:known_status": 2,
    }


def test_bad_expectation_expression_names_its_key(spark):
    df = spark.createDataFrame([(1,)], "order_id BIGINT")
    with pytest.raises(ConfigError, match=r"silver\.expectations\.0\.expr \(r\)"):
        df.transform(check_expectations([Expectation(name="r", expr="nope > 1", action="warn")]))
