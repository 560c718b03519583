"""Silver: the pure prepare transform, then a few Delta runs covering MERGE semantics, the dead-letter
table, the accounting identity, exactly-once across crashes, fail / threshold, and bronze -> silver e2e."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from silver_helpers import SILVER_DDL, append_bronze, bronze_frame, new_result, pipeline, read

from medallion.delta_table import committed_txn_version, latest_version
from medallion.errors import ExpectationFailed, RunError
from medallion.silver.layer import app_id, run_silver
from medallion.silver.plan import BronzeRange, plan_range
from medallion.silver.prepare import prepare

REPO = Path(__file__).resolve().parents[1]


def _paths(env, p):
    return (env.table_path("bronze", p.bronze.table), env.table_path("silver", p.silver.table),
            env.table_path("silver", p.silver.dlq))


def _identity(result):
    assert result.rows_in == result.rows_out + result.rows_quarantined + result.rows_superseded, result


# --------------------------------------------------------------------------- pure


def test_prepare_dedups_keys_that_differ_only_by_case_and_whitespace(spark, now):
    p = pipeline(keys=["customer_email"])
    bronze = bronze_frame(spark, [
        ("1", "Ann@X.com ", "1.00", "NEW", "2026-11-01 10:00:00"),
        ("1", " ann@x.COM", "2.00", "PAID", "2026-11-02 10:00:00"),   # same key after lower(trim())
        ("2", "bob@x.com", "3.00", "NEW", "2026-11-01 10:00:00"),
    ]).withColumn("_bronze_version", F.lit(1).cast("bigint"))
    out = bronze.transform(prepare(p.silver, run_id="r", now=now))
    newest = out.where("_rank = 1 and not _quarantined").select("customer_email", "status")
    expected = spark.createDataFrame([("ann@x.com", "PAID"), ("bob@x.com", "NEW")], "customer_email STRING, status STRING")
    assert_df_equality(newest, expected, ignore_row_order=True, ignore_nullable=True)
    # the original bronze row rides along for the dead-letter table
    assert sorted(r["_bronze"]["customer_email"] for r in out.collect()) == [" ann@x.COM", "Ann@X.com ", "bob@x.com"]


def test_plan_range_reads_what_is_new_and_resumes_an_interrupted_batch():
    assert plan_range(3, applied=None, dead_lettered=None) == BronzeRange(0, 3)
    assert plan_range(7, applied=3, dead_lettered=2) == BronzeRange(4, 7)
    assert plan_range(3, applied=3, dead_lettered=None).empty
    # the dead-letter table is ahead: redo exactly that batch, newer versions wait for the next run
    assert plan_range(9, applied=3, dead_lettered=5) == BronzeRange(4, 5, resumed=True)
    assert plan_range(9, applied=None, dead_lettered=5) == BronzeRange(0, 5, resumed=True)
    with pytest.raises(RunError, match="re-created"):
        plan_range(2, applied=4, dead_lettered=None)


# --------------------------------------------------------------------------- Delta


BATCH_1 = [
    ("1", "a@x.com", "10.00", "NEW", "2026-11-01 10:00:00"),
    ("2", "b@x.com", "20.00", "NEW", "2026-11-01 10:00:00"),
    ("3", "c@x.com", "30.00", "NEW", "2026-11-01 10:00:00"),
]
BATCH_2 = [
    (" 1 ", "A@X.com ", "11.00", "paid", "2026-11-02 10:00:00"),   # newer version of key 1 (messy key)
    ("1", "a@x.com", "10.50", "PAID", "2026-11-01 12:00:00"),      # older version in the same batch
    ("2", "b@x.com", "5.00", "CANCELLED", "2026-10-01 10:00:00"),  # stale: silver holds a newer one
    ("3", "c@x.com", "31.00", "SHIPPED", "2026-11-01 10:00:00"),   # equal sequence, new content
    ("4", "d@x.com", "40.00", "LOST", "2026-11-02 10:00:00"),      # new key, unknown status (warn)
    ("4", "d@x.com", "40.00", "LOST", "2026-11-02 10:00:00"),      # exact duplicate
    (None, "x@x.com", "-1", "NEW", "2026-11-02 10:00:00"),         # two drop rules
    ("abc", "y@x.com", "5", "NEW", "2026-11-02 10:00:00"),         # id fails its cast -> null
    ("6", "z@x.com", "-3", "weird", "2026-11-02 10:00:00"),        # drop rule + warn rule
]
CORRUPT_LINE = '{"order_id": 7, "amount": '


@pytest.mark.delta
def test_silver_merge_semantics_dead_letters_accounting_and_skip(spark, env, now):
    p1 = pipeline()
    bronze_path, silver_path, dlq_path = _paths(env, p1)
    append_bronze(spark, bronze_path, bronze_frame(spark, BATCH_1, source_file="orders-1.json"))

    r1 = run_silver(spark, env, p1, new_result("run-1", now))
    assert (r1.rows_in, r1.rows_out, r1.rows_quarantined, r1.rows_superseded) == (3, 3, 0, 0)
    assert r1.details["merge"] == {"source_rows": 3, "inserted": 3, "updated": 0, "unapplied": 0}
    props = spark.sql(f"DESCRIBE DETAIL delta.`{silver_path}`").head()["properties"]
    assert props["delta.enableChangeDataFeed"] == "true"

    # a later delivery with every kind of defect; meanwhile a column was added to `columns:`
    append_bronze(spark, bronze_path,
                  bronze_frame(spark, BATCH_2, source_file="orders-2.json", ingested_at="2026-11-26 11:00:00",
                               corrupt=[CORRUPT_LINE]))
    p2 = pipeline(columns={**p1.silver.columns, "amount_cents": "cast(amount * 100 as bigint)"})
    r2 = run_silver(spark, env, p2, new_result("run-2", now))

    assert (r2.rows_in, r2.rows_out, r2.rows_quarantined, r2.rows_superseded) == (10, 3, 4, 3)
    assert (r2.rows_corrupt, r2.rows_warned) == (1, 2)
    _identity(r2)
    assert r2.details["merge"] == {"source_rows": 4, "inserted": 1, "updated": 2, "unapplied": 1}
    assert r2.details["superseded_in_batch"] == 2
    assert r2.details["expectations"] == {"order_id_present": 2, "amount_non_negative": 2, "known_status": 3}
    assert r2.source_version == latest_version(spark, bronze_path)
    assert r2.target_version == latest_version(spark, silver_path)
    assert committed_txn_version(spark, silver_path, app_id(p2)) == r2.source_version

    silver = read(spark, silver_path)
    expected = spark.createDataFrame(
        [
            (1, "a@x.com", "11.00", "PAID", "2026-11-02 10:00:00", 1100, "run-2"),
            (2, "b@x.com", "20.00", "NEW", "2026-11-01 10:00:00", None, "run-1"),
            (3, "c@x.com", "31.00", "SHIPPED", "2026-11-01 10:00:00", 3100, "run-2"),
            (4, "d@x.com", "40.00", "LOST", "2026-11-02 10:00:00", 4000, "run-2"),
        ],
        "order_id BIGINT, customer_email STRING, amount STRING, status STRING, updated_at STRING, "
        "amount_cents BIGINT, _run_id STRING",
    ).select(*[F.expr(f"cast({c} as {t})").alias(c) for c, t in [
        ("order_id", "bigint"), ("customer_email", "string"), ("amount", "decimal(12,2)"), ("status", "string"),
        ("updated_at", "timestamp"), ("amount_cents", "bigint"), ("_run_id", "string")]])
    assert_df_equality(silver.select(*expected.columns), expected, ignore_row_order=True, ignore_nullable=True)
    assert set(silver.columns) >= set(SILVER_DDL.replace(",", "").split()[::2]) | {"_record_hash", "_bronze_version"}

    dlq = read(spark, dlq_path)
    expected_dlq = spark.createDataFrame(
        [
            (None, "-1", None, ["order_id_present", "amount_non_negative"]),
            ("abc", "5", None, ["order_id_present"]),
            ("6", "-3", None, ["amount_non_negative", "known_status"]),
            (None, None, CORRUPT_LINE, ["corrupt_record"]),
        ],
        "order_id STRING, amount STRING, _corrupt_record STRING, _failed_rules ARRAY<STRING>",
    )
    assert_df_equality(dlq.select(*expected_dlq.columns), expected_dlq, ignore_row_order=True, ignore_nullable=True)
    # replayable: every bronze column is there, with the run id and a timestamp
    assert set(read(spark, bronze_path).columns) <= set(dlq.columns)
    assert {(r._quarantine_run_id, r._quarantined_at.isoformat(), r._source_file, r._bronze_version)
            for r in dlq.collect()} == {("run-2", "2026-11-26T12:00:00", "orders-2.json", r2.source_version)}

    # nothing new: skipped, nothing written
    silver_version, dlq_version = latest_version(spark, silver_path), latest_version(spark, dlq_path)
    r3 = run_silver(spark, env, p2, new_result("run-3", now))
    assert r3.status == "skipped" and r3.rows_in == 0
    assert (latest_version(spark, silver_path), latest_version(spark, dlq_path)) == (silver_version, dlq_version)


class Crash(RuntimeError):
    pass


def _crash_at(step):
    def hook(name):
        if name == step:
            raise Crash(name)

    return hook


@pytest.mark.delta
def test_crash_between_steps_then_rerun_is_exactly_once(spark, env, now):
    p = pipeline()
    bronze_path, silver_path, dlq_path = _paths(env, p)
    append_bronze(spark, bronze_path, bronze_frame(spark, [
        ("1", "a@x.com", "10.00", "NEW", "2026-11-01 10:00:00"),
        ("2", "b@x.com", "-5.00", "NEW", "2026-11-01 10:00:00"),   # dead-lettered
    ]))
    with pytest.raises(Crash):
        run_silver(spark, env, p, new_result("run-1", now), on_step=_crash_at("dead_lettered"))
    assert read(spark, dlq_path).count() == 1
    assert committed_txn_version(spark, silver_path, app_id(p)) is None

    # more bronze arrives before the rerun
    append_bronze(spark, bronze_path, bronze_frame(spark, [("3", "c@x.com", "30.00", "NEW", "2026-11-02 10:00:00")],
                                                   source_file="orders-2.json"))
    resumed = run_silver(spark, env, p, new_result("run-2", now))
    assert resumed.details["resumed"] is True
    assert (resumed.rows_in, resumed.rows_out, resumed.rows_quarantined) == (2, 1, 1)
    assert read(spark, dlq_path).count() == 1          # the dead-letter append was not repeated

    # a crash after the MERGE committed: the rerun has nothing left to do
    with pytest.raises(Crash):
        run_silver(spark, env, p, new_result("run-3", now), on_step=_crash_at("merged"))
    again = run_silver(spark, env, p, new_result("run-4", now))
    assert again.status == "skipped"

    assert sorted(r.order_id for r in read(spark, silver_path).collect()) == [1, 3]
    assert [r.order_id for r in read(spark, dlq_path).collect()] == ["2"]


@pytest.mark.delta
def test_fail_rule_and_quarantine_threshold_write_nothing(spark, env, now):
    base = pipeline()
    bronze_path, silver_path, dlq_path = _paths(env, base)
    append_bronze(spark, bronze_path, bronze_frame(spark, [
        ("1", "a@x.com", "10.00", "NEW", "2026-11-01 10:00:00"),
        ("2", "b@x.com", "-5.00", "NEW", "2026-11-01 10:00:00"),
        ("3", "c@x.com", "-6.00", "NEW", "2026-11-01 10:00:00"),
    ]))
    rules = [{**e, "action": "fail"} if e["name"] == "amount_non_negative" else e
             for e in base.silver.model_dump()["expectations"]]
    with pytest.raises(ExpectationFailed, match=r"amount_non_negative \(2 of 3 rows\)") as failed:
        run_silver(spark, env, pipeline(expectations=rules), new_result("run-1", now))
    assert failed.value.rules == {"amount_non_negative": 2}
    assert failed.value.partial.rows_in == 3  # partial counts are kept for the run log

    with pytest.raises(ExpectationFailed, match="max_quarantine_fraction") as failed:
        run_silver(spark, env, pipeline(max_quarantine_fraction=0.5), new_result("run-2", now))
    assert failed.value.rules == {"max_quarantine_fraction": 2}

    from delta.tables import DeltaTable

    assert not DeltaTable.isDeltaTable(spark, silver_path)
    assert not DeltaTable.isDeltaTable(spark, dlq_path)


# --------------------------------------------------------------------------- bronze -> silver


def _expected_counts(manifest: Path) -> dict[str, int]:
    silver = json.loads(manifest.read_text())["silver"]
    return {k: silver[k] for k in ("rows_in", "rows_out", "rows_quarantined", "rows_superseded", "rows_warned")}


@pytest.mark.e2e
def test_bronze_then_silver_on_the_sample_then_a_later_delivery(spark, env, now):
    from medallion.bronze.layer import run_bronze
    from medallion.config import load_pipeline

    p = load_pipeline(REPO / "conf" / "pipelines" / "orders.yaml")
    landing = Path(env.landing_root) / "orders"
    shutil.copytree(REPO / "data" / "landing" / "orders", landing)

    def run_both(run_id):
        run_bronze(spark, env, p, new_result(run_id, now))
        return run_silver(spark, env, p, new_result(run_id, now))

    def counts(r):
        return {k: getattr(r, k) for k in ("rows_in", "rows_out", "rows_quarantined", "rows_superseded", "rows_warned")}

    first = run_both("run-1")
    assert counts(first) == _expected_counts(REPO / "data" / "landing" / "orders.expected.json")
    _identity(first)

    for f in (REPO / "data" / "later" / "orders").iterdir():
        shutil.copy(f, landing / f.name)
    later = run_both("run-2")
    assert counts(later) == _expected_counts(REPO / "data" / "later" / "orders.expected.json")
    _identity(later)

    _, silver_path, dlq_path = _paths(env, p)
    table = json.loads((REPO / "data" / "later" / "orders.expected.json").read_text())["silver"]["table"]
    silver = read(spark, silver_path).agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("order_id").alias("keys"),
        F.sum("amount").cast("string").alias("amount_sum"),
    ).head()
    assert (silver.rows, silver.keys, silver.amount_sum) == (table["rows"], table["rows"], table["amount_sum"])
    # the dead-letter table holds exactly the rejected rows, with all their reasons
    reasons = {
        r[0]: r[1]
        for r in read(spark, dlq_path).select(F.explode("_failed_rules")).groupBy("col").count().collect()
    }
    expected_reasons: dict[str, int] = {}
    for manifest in ("landing", "later"):
        for reason, n in json.loads((REPO / "data" / manifest / "orders.expected.json").read_text())["silver"][
            "quarantine_reasons"
        ].items():
            expected_reasons[reason] = expected_reasons.get(reason, 0) + n
    assert reasons == expected_reasons

    assert run_both("run-3").status == "skipped"
