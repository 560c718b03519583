"""rows_frame: audit rows built from JSON literals equal what createDataFrame builds, value for value."""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from chispa import assert_df_equality

from medallion.sql import rows_frame

SCHEMA = ("`id` BIGINT, `name` STRING, `ok` BOOLEAN, `ratio` DOUBLE, `at` TIMESTAMP, `day` DATE, "
          "`amount` DECIMAL(12,2), `details` STRING")

ROWS = [
    (9_007_199_254_740_993, 'quote " and \\ backslash\nnew line', True, 0.1, datetime(2026, 11, 27, 14, 51, 2, 303925,
     tzinfo=UTC), date(2026, 11, 27), Decimal("12.34"), '{"a": [1, 2]}'),
    (-1, "ünïcødé ✓ \u0000 nul", False, -2.5e-300, datetime(2026, 1, 1, 0, 0), date(1999, 12, 31), Decimal("-0.01"), None),
    (None, None, None, None, None, None, None, None),
]


def test_a_few_rows_round_trip_exactly_as_create_dataframe_makes_them(spark):
    expected = spark.createDataFrame(ROWS, SCHEMA)
    actual = rows_frame(spark, ROWS, SCHEMA)
    assert actual.rdd.getNumPartitions() == 1  # one task, no parallelised Python list
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


def test_many_rows_and_no_rows_take_the_create_dataframe_path(spark):
    many = [(i, f"file-{i}", True, float(i), None, None, None, None) for i in range(1000)]
    assert_df_equality(rows_frame(spark, many, SCHEMA), spark.createDataFrame(many, SCHEMA), ignore_nullable=True)
    assert rows_frame(spark, [], SCHEMA).count() == 0
