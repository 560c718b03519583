"""Dead-letter operations on real Spark + Delta: replay after a rule fix (newest wins, still-failing rows
get their new reasons), dry run, replay twice, discard, inspect, corrupt records re-parsed after a schema
fix, and a JVM killed between the replay's two writes."""
from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from silver_helpers import ORDERS, append_bronze, bronze_frame, new_result, pipeline, read

from medallion.audit.run_log import read_run_log
from medallion.bronze.layer import run_bronze
from medallion.config import PipelineConfig
from medallion.delta_table import committed_txn_version, latest_version
from medallion.dlq.commands import Selection, app_id, discard, format_inspection, inspect, log_run
from medallion.dlq.replay import LAYER, format_replay, replay
from medallion.silver.layer import run_silver

ROOT = Path(__file__).resolve().parents[1]
STATUSES = ["NEW", "PAID", "SHIPPED", "CANCELLED"]


def rules(statuses):
    """The orders rules with `known_status` as a drop rule over ``statuses``."""
    listed = ", ".join(f"'{s}'" for s in statuses)
    return [
        {"name": "order_id_present", "expr": "order_id is not null", "action": "drop"},
        {"name": "amount_non_negative", "expr": "amount >= 0", "action": "drop"},
        {"name": "known_status", "expr": f"status in ({listed})", "action": "drop"},
    ]


STRICT = pipeline(expectations=rules(STATUSES))          # the wrong rule: LOST is a real status
FIXED = pipeline(expectations=rules([*STATUSES, "LOST"]))  # the rule after the fix

BATCH_1 = [
    ("1", "a@x.com", "10.00", "NEW", "2026-11-01 10:00:00"),
    ("2", "b@x.com", "20.00", "LOST", "2026-11-01 10:00:00"),      # comes back after the fix
    ("3", "c@x.com", "30.00", "RETURNED", "2026-11-01 10:00:00"),  # still fails known_status
    ("4", "d@x.com", "-1.00", "LOST", "2026-11-01 10:00:00"),      # still fails, one reason fewer
    ("5", "e@x.com", "5.00", "LOST", "2026-11-01 09:00:00"),       # stale: batch 2 brings a newer key 5
    ("6", "f@x.com", "60.00", "LOST", "2026-11-01 10:00:00"),      # comes back ...
    ("6", "f@x.com", "60.00", "LOST", "2026-11-01 10:00:00"),      # ... an exact duplicate does not
]
BATCH_2 = [("5", "e@x.com", "6.00", "PAID", "2026-11-02 10:00:00")]
AUDIT = ["_run_id", "_updated_at", "_dlq_status_run_id", "_dlq_status_at"]


def _paths(env, p):
    return (env.table_path("bronze", p.bronze.table), env.table_path("silver", p.silver.table),
            env.table_path("silver", p.silver.dlq))


def _load(spark, env, now):
    bronze_path, _, _ = _paths(env, STRICT)
    append_bronze(spark, bronze_path, bronze_frame(spark, BATCH_1, source_file="orders-1.json"))
    first = run_silver(spark, env, STRICT, new_result("silver-1", now))
    append_bronze(spark, bronze_path, bronze_frame(spark, BATCH_2, source_file="orders-2.json"))
    run_silver(spark, env, STRICT, new_result("silver-2", now))
    assert first.rows_quarantined == 6


def _dlq_rows(spark, path):
    return sorted(
        (r.order_id, r._dlq_status or "pending", tuple(r._failed_rules), r._dlq_status_run_id)
        for r in read(spark, path).collect()
    )


@pytest.mark.delta
def test_replay_after_a_rule_fix_dry_run_twice_discard_and_inspect(spark, env, now):
    _, silver_path, dlq_path = _paths(env, FIXED)
    _load(spark, env, now)
    versions = (latest_version(spark, silver_path), latest_version(spark, dlq_path))

    dry = replay(spark, env, FIXED, Selection(), new_result("dry", now), dry_run=True)
    assert (dry.rows_in, dry.rows_out, dry.rows_superseded, dry.rows_quarantined) == (6, 2, 2, 2)
    assert (latest_version(spark, silver_path), latest_version(spark, dlq_path)) == versions  # nothing written
    assert {r._dlq_status for r in read(spark, dlq_path).collect()} == {"pending"}  # a status from creation
    assert "would be merged 2" in format_replay(dry, run_id="dry")
    only = replay(spark, env, FIXED, Selection(rule="amount_non_negative"), new_result("dry", now), dry_run=True)
    assert (only.rows_in, only.rows_quarantined) == (1, 1)
    assert replay(spark, env, FIXED, Selection(run_id="silver-2"), new_result("dry", now), dry_run=True).rows_in == 0

    record = log_run(spark, env, FIXED, LAYER, new_result("replay-1", now),
                     lambda: replay(spark, env, FIXED, Selection(), new_result("replay-1", now)))
    done = record.outcome
    # selected = merged + superseded + still failing, as a dry run said
    assert (done.rows_in, done.rows_out, done.rows_superseded, done.rows_quarantined) == (6, 2, 2, 2)
    assert done.details["merge"] == {"inserted": 2, "updated": 0, "unapplied": 1}
    assert done.details["still_failing_by_rule"] == {"amount_non_negative": 1, "known_status": 1}

    silver = read(spark, silver_path).select("order_id", "amount", "status", "_run_id")
    expected = spark.createDataFrame(
        [(1, "10.00", "NEW", "silver-1"), (2, "20.00", "LOST", "replay-1"),
         (5, "6.00", "PAID", "silver-2"), (6, "60.00", "LOST", "replay-1")],  # key 5: the stale replay lost
        "order_id BIGINT, amount STRING, status STRING, _run_id STRING",
    ).withColumn("amount", F.col("amount").cast("decimal(12,2)"))
    assert_df_equality(silver, expected, ignore_row_order=True, ignore_nullable=True)
    assert _dlq_rows(spark, dlq_path) == [
        ("2", "replayed", ("known_status",), "replay-1"),
        ("3", "pending", ("known_status",), None),                 # same reasons: row untouched
        ("4", "pending", ("amount_non_negative",), "replay-1"),   # new reasons
        ("5", "replayed", ("known_status",), "replay-1"),
        ("6", "replayed", ("known_status",), "replay-1"),
        ("6", "replayed", ("known_status",), "replay-1"),
    ]
    logged = read_run_log(spark, env.run_log_path).where(F.col("layer") == LAYER).collect()
    assert [(r.rows_in, r.rows_out, r.rows_superseded, r.rows_quarantined, r.status) for r in logged] == [
        (6, 2, 2, 2, "succeeded")]

    # replay twice: nothing is applied again, nothing is written
    versions = (latest_version(spark, silver_path), latest_version(spark, dlq_path))
    again = replay(spark, env, FIXED, Selection(), new_result("replay-2", now))
    assert (again.status, again.rows_in, again.rows_out, again.rows_quarantined) == ("skipped", 2, 0, 2)
    assert (latest_version(spark, silver_path), latest_version(spark, dlq_path)) == versions

    # discard: no longer pending, never replayed; who / why / when recorded
    gone = discard(spark, env, FIXED, Selection(rule="known_status"), reason="RETURNED is not an order status",
                   run=new_result("discard-1", now), by="alice")
    assert gone.rows_out == 1
    row = read(spark, dlq_path).where("order_id = '3'").head()
    assert (row._dlq_status, row._dlq_discarded_by, row._dlq_discard_reason, row._dlq_status_run_id) == (
        "discarded", "alice", "RETURNED is not an order status", "discard-1")
    assert row._dlq_status_at.isoformat() == "2026-11-26T12:00:00"
    assert replay(spark, env, FIXED, Selection(rule="known_status"), new_result("replay-3", now)).rows_in == 0

    report = inspect(spark, env, FIXED)
    assert (report["rows"], report["status"]) == (6, {"pending": 1, "replayed": 4, "discarded": 1})
    by_rule = {e["rule"]: (e["rows"], e["pending"], e["replayed"], e["discarded"]) for e in report["rules"]}
    assert by_rule == {"known_status": (5, 0, 4, 1), "amount_non_negative": (1, 1, 0, 0)}
    assert [run["run_id"] for run in report["rules"][0]["runs"]] == ["silver-1"]
    assert report["rules"][1]["samples"][0]["order_id"] == "4"
    assert "6 dead letter(s): 1 pending, 4 replayed, 1 discarded" in format_inspection(report)
    json.dumps(report)  # --output json


JSON_SCHEMA_V1 = "order_id STRING, customer_email STRING, amount DOUBLE, status STRING, updated_at STRING"
JSON_SCHEMA_V2 = "order_id STRING, customer_email STRING, amount STRING, status STRING, updated_at STRING"


def _json_pipeline(schema: str) -> PipelineConfig:
    data = {**ORDERS, "source": {**ORDERS["source"], "schema": schema}}
    return PipelineConfig.model_validate(data)


@pytest.mark.delta
def test_corrupt_records_come_back_after_a_schema_fix(spark, env, now):
    landing = Path(env.landing_root) / "orders"
    landing.mkdir()
    (landing / "orders-1.json").write_text(
        '{"order_id": "1", "customer_email": "a@x.com", "amount": 10.5, "status": "NEW", "updated_at": "2026-11-01 10:00:00"}\n'
        '{"order_id": "2", "customer_email": "b@x.com", "amount": "12.50", "status": "NEW", "updated_at": "2026-11-01 10:00:00"}\n'
        '{"order_id": "3", "amount": \n'
    )
    v1, v2 = _json_pipeline(JSON_SCHEMA_V1), _json_pipeline(JSON_SCHEMA_V2)
    run_bronze(spark, env, v1, new_result("bronze-1", now))
    first = run_silver(spark, env, v1, new_result("silver-1", now))
    assert (first.rows_out, first.rows_corrupt) == (1, 2)

    done = replay(spark, env, v2, Selection(rule="corrupt_record"), new_result("replay-1", now))
    assert (done.rows_in, done.rows_out, done.rows_quarantined, done.rows_corrupt) == (2, 1, 1, 1)
    _, silver_path, dlq_path = _paths(env, v2)
    amounts = {r.order_id: str(r.amount) for r in read(spark, silver_path).collect()}
    assert amounts == {1: "10.50", 2: "12.50"}
    left = read(spark, dlq_path).where("coalesce(_dlq_status, 'pending') = 'pending'").collect()
    assert [(r._corrupt_record, list(r._failed_rules)) for r in left] == [('{"order_id": "3", "amount": ', ["corrupt_record"])]


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime, timezone
    from medallion.config import EnvConfig, PipelineConfig
    from medallion.dlq.commands import Selection
    from medallion.dlq.replay import replay
    from medallion.audit.outcome import RunContext
    from medallion.session import get_spark

    lake, landing, pipeline_json, marker = sys.argv[1:5]
    spark = get_spark({"spark.master": "local[2]", "spark.sql.shuffle.partitions": "2"})
    env = EnvConfig(name="k", landing_root=landing, lakehouse_root=lake)
    p = PipelineConfig.model_validate_json(pipeline_json)

    def kill_between_writes(step):
        if step == "merged":  # silver's MERGE is committed, the dead-letter update is not
            jvm = spark.sparkContext._gateway.proc.pid
            open(marker, "w").write(str(jvm))
            os.kill(jvm, signal.SIGKILL)
            os._exit(9)

    replay(spark, env, p, Selection(), RunContext("crashed", datetime(2026, 11, 26, 12, tzinfo=timezone.utc)),
           on_step=kill_between_writes)
    print("replay finished: the crash did not happen")
    sys.exit(3)
    """
)


@pytest.mark.delta
@pytest.mark.e2e
def test_jvm_killed_between_the_replay_writes_then_rerun_equals_a_clean_replay(spark, env, now, tmp_path,
                                                                               jvm_subprocess):
    _, silver_path, dlq_path = _paths(env, FIXED)
    _load(spark, env, now)
    twin = tmp_path / "twin"
    shutil.copytree(env.lakehouse_root, twin)

    script, marker = tmp_path / "killer.py", tmp_path / "killed"
    script.write_text(KILLER)
    proc = jvm_subprocess(script, env.lakehouse_root, env.landing_root, FIXED.model_dump_json(by_alias=True),
                          str(marker), timeout=600)
    assert marker.exists(), f"the JVM was not killed (rc={proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    writer = app_id(FIXED.silver)
    assert committed_txn_version(spark, silver_path, writer) == 0       # silver holds the replay ...
    assert committed_txn_version(spark, dlq_path, writer) is None        # ... the dead letters do not
    with pytest.raises(Exception, match="interrupted"):
        discard(spark, env, FIXED, Selection(rule="known_status"), reason="x", run=new_result("d", now))

    resumed = replay(spark, env, FIXED, Selection(rule="amount_non_negative"), new_result("rerun", now))
    assert resumed.details["resumed"] is True and resumed.details["completes_run"] == "crashed"
    assert (resumed.rows_in, resumed.rows_out, resumed.rows_superseded, resumed.rows_quarantined) == (6, 2, 2, 2)
    assert committed_txn_version(spark, dlq_path, writer) == 0
    assert replay(spark, env, FIXED, Selection(), new_result("again", now)).rows_out == 0

    from medallion.config import EnvConfig

    clean_env = EnvConfig(name="twin", landing_root=env.landing_root, lakehouse_root=str(twin))
    clean = replay(spark, env=clean_env, pipeline=FIXED, selection=Selection(), run=new_result("clean", now))
    assert (clean.rows_in, clean.rows_out, clean.rows_superseded, clean.rows_quarantined) == (6, 2, 2, 2)
    for path, twin_path in ((silver_path, clean_env.table_path("silver", "orders")),
                            (dlq_path, clean_env.table_path("silver", "orders_dlq"))):
        actual, expected = read(spark, path), read(spark, twin_path)
        assert_df_equality(actual.drop(*AUDIT), expected.drop(*AUDIT), ignore_row_order=True, ignore_nullable=True)
    crashed_rows = read(spark, silver_path).where("_run_id = 'crashed'").count()
    assert crashed_rows == 2  # the rows merged before the kill, once
