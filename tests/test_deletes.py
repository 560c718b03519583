"""Deletes (delete_when) in latest mode, with tombstones, on real Spark + Delta."""
from __future__ import annotations

import pytest
from chispa import assert_df_equality

from medallion.audit.outcome import RunContext
from medallion.config import PipelineConfig
from medallion.errors import ConfigError
from medallion.silver.layer import run_silver
from tests.history_helpers import LATEST_DDL, bronze_frame, customers, expected_latest
from tests.silver_helpers import append_bronze, read

RUNS = [
    [("1", "a@x.com", "gold", "I", "2026-11-01 01:00:00"),
     ("2", "b@x.com", "gold", "I", "2026-11-01 05:00:00"),
     ("5", "e@x.com", "gold", "I", "2026-11-01 01:00:00"),
     ("5", "e@x.com", "gold", "D", "2026-11-01 02:00:00")],   # deleted within its first batch
    [("1", "a@x.com", "gold", "D", "2026-11-01 02:00:00"),    # the key leaves silver
     ("2", "b@x.com", "gold", "D", "2026-11-01 04:00:00")],   # older than silver's row: does nothing
    [("1", "a@x.com", "silver", "U", "2026-11-01 01:30:00"),  # older than the delete: must not resurrect
     ("3", "c@x.com", "gold", "D", "2026-11-01 05:00:00")],   # a delete of a key not seen yet
    [("3", "c@x.com", "gold", "I", "2026-11-01 04:00:00"),    # older than that delete: stays out
     ("1", "a@x.com", "bronze", "U", "2026-11-01 03:00:00")], # newer than the delete: back
]


def _tombstones(spark, env):
    return sorted((r.customer_id, str(r.updated_at)) for r in read(spark, env.table_path("silver", "customers_tombstones")).collect())


@pytest.mark.delta
def test_deletes_newest_wins_and_tombstones_keep_older_upserts_out(spark, env, now):
    p = customers(history="latest")
    bronze_path, silver_path = env.table_path("bronze", "customers"), env.table_path("silver", "customers")
    outcomes, seen = [], []
    for i, records in enumerate(RUNS):
        append_bronze(spark, bronze_path, bronze_frame(spark, records, source_file=f"c-{i}.json"))
        outcomes.append(run_silver(spark, env, p, RunContext(f"run-{i}", now)))
        seen += records
        expected = spark.createDataFrame(expected_latest(seen), LATEST_DDL)
        assert_df_equality(read(spark, silver_path).select(*expected.columns), expected,
                           ignore_row_order=True, ignore_nullable=True)
        if i == 2:
            assert _tombstones(spark, env) == [(1, "2026-11-01 02:00:00"), (3, "2026-11-01 05:00:00"),
                                               (5, "2026-11-01 02:00:00")]

    counts = [(o.rows_in, o.rows_out, o.rows_deleted, o.rows_superseded) for o in outcomes]
    assert counts == [(4, 2, 0, 2), (2, 0, 1, 1), (2, 0, 0, 2), (2, 1, 0, 1)]
    for o in outcomes:
        assert o.rows_in == o.rows_out + o.rows_deleted + o.rows_quarantined + o.rows_superseded
    # key 1 came back with a newer version: its tombstone went; 3 and 5 stay deleted
    assert _tombstones(spark, env) == [(3, "2026-11-01 05:00:00"), (5, "2026-11-01 02:00:00")]


def test_history_keys_are_validated(tmp_path):
    with pytest.raises(ValueError, match="track_columns and ignore_columns apply to history: scd2 only"):
        customers(history="latest", track_columns=["email"])
    with pytest.raises(ValueError, match=r"track_columns \['nope'\] are not among the output columns"):
        customers(ignore_columns=[], track_columns=["nope"])
    with pytest.raises(ValueError, match="keys or sequence_by"):
        customers(ignore_columns=["updated_at"])
    with pytest.raises(ValueError, match="history"):
        customers(history="scd3")
    assert customers().silver.tracked == ["email", "segment"]
    assert customers().table_names("silver") == ["customers", "customers_dlq", "customers_events"]
    assert customers(history="latest").table_names("silver") == ["customers", "customers_dlq", "customers_tombstones"]


def test_a_bad_delete_when_fails_validation_naming_the_key(spark):
    from medallion.config.validation import validate_pipeline_sql

    p = customers(delete_when="op = = 'D'")
    with pytest.raises(ConfigError, match=r"silver.delete_when"):
        validate_pipeline_sql(spark, p, file="customers.yaml")
    assert isinstance(p, PipelineConfig)


@pytest.mark.delta
def test_a_run_log_written_before_rows_deleted_gains_the_column(spark, tmp_path, now):
    from medallion.audit.outcome import LayerOutcome, Status
    from medallion.audit.run_log import RUN_LOG_SCHEMA, RunRecord, layer_summaries, write_run_log

    path = str(tmp_path / "runs")
    old_schema = ", ".join(c for c in RUN_LOG_SCHEMA.split(", ") if not c.startswith("`rows_deleted`"))
    record = RunRecord.of(LayerOutcome(rows_in=3, rows_out=1, rows_deleted=2), context=RunContext("r-2", now),
                          pipeline="customers", environment="test", layer="silver", table="customers", ended_at=now)
    old = tuple(v for c, v in zip(RUN_LOG_SCHEMA.split(", "), record.row(), strict=True) if not c.startswith("`rows_deleted`"))
    spark.createDataFrame([old], old_schema).write.format("delta").save(path)
    assert "rows_deleted" not in spark.read.format("delta").load(path).columns
    assert layer_summaries(spark, path, pipeline="customers", tables={"silver": None})["silver"].latest["rows_deleted"] == 0

    write_run_log(spark, path, [record])
    rows = spark.read.format("delta").load(path).orderBy("rows_deleted").collect()
    assert [r["rows_deleted"] for r in rows] == [None, 2]
    assert record.status == Status.SUCCEEDED
