"""Post-run checks: all pass after a real run of the sample; each kind of breakage fails its own check."""
from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from medallion.audit.outcome import LayerOutcome, Status
from medallion.audit.run_log import RunRecord, write_run_log
from medallion.checks.table_checks import CheckResult, format_results, run_checks
from medallion.cli import main
from medallion.config import EnvConfig, load_pipeline
from medallion.runner import layers_for, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data/landing/orders/orders_20261101T060000Z.json"  # one file of the sample keeps it quick
PIPELINE = load_pipeline(ROOT / "conf/pipelines/orders.yaml")


def failed(results: list[CheckResult]) -> dict[str, str]:
    return {r.name: r.detail for r in results if not r.passed}


def test_format_results_is_a_table_with_a_verdict() -> None:
    text = format_results([CheckResult("a", True, "fine"), CheckResult("longer_name", False, "3 vs 4")])
    assert text.splitlines() == [
        "check        result  detail",
        "a            PASS    fine",
        "longer_name  FAIL    3 vs 4",
        "2 check(s): 1 FAILED",
    ]


@pytest.mark.delta
@pytest.mark.e2e
def test_checks_pass_after_a_run_and_catch_each_breakage(spark: SparkSession, env: EnvConfig) -> None:
    (Path(env.landing_root) / "orders").mkdir()
    shutil.copy(SAMPLE, Path(env.landing_root) / "orders")
    report = run_pipeline(spark, env, PIPELINE, layers_for(PIPELINE, "all"))
    assert report.ok, report.to_text()

    results = run_checks(spark, env, PIPELINE)
    assert failed(results) == {}, format_results(results)
    assert [r.name for r in results] == [
        "exists:bronze/orders", "exists:silver/orders", "exists:silver/orders_dlq", "exists:gold/daily_revenue",
        "silver_unique_keys", "last_run:bronze", "last_run:silver", "last_run:gold", "bronze_rows_logged",
        "dlq_rows_logged", "dlq_failed_rules", "gold_non_empty:gold/daily_revenue",
    ]
    silver = report.results[1]
    dlq_detail = next(r.detail for r in results if r.name == "dlq_rows_logged")
    assert f"holds {silver.outcome.rows_quarantined} rows" in dlq_detail and silver.outcome.rows_quarantined > 0

    # Break one thing per check, then check once: each breakage fails its own check and no other.
    table = env.table_path
    silver_df = spark.read.format("delta").load(table("silver", "orders"))
    silver_rows = silver_df.count()
    silver_df.limit(1).write.format("delta").mode("append").save(table("silver", "orders"))  # a duplicate key
    dlq = DeltaTable.forPath(spark, table("silver", "orders_dlq"))
    dlq.delete(F.array_contains("_failed_rules", "corrupt_record"))  # 4 corrupt records' dead letters vanish
    dlq.update(F.array_contains("_failed_rules", "amount_non_negative"), {"_failed_rules": F.array().cast("array<string>")})
    DeltaTable.forPath(spark, table("bronze", "orders")).delete(F.col("_corrupt_record").isNotNull())
    DeltaTable.forPath(spark, table("gold", "daily_revenue")).delete()
    later = report.results[1].started_at + timedelta(hours=1)
    crashed = RunRecord(run_id="later-run", pipeline="orders", environment=env.name, layer="silver", table="orders",
                        status=Status.FAILED, started_at=later, ended_at=later, duration_seconds=0.0, error="boom",
                        outcome=LayerOutcome(rows_in=7, rows_quarantined=7))
    write_run_log(spark, env.run_log_path, [crashed])

    broken = failed(run_checks(spark, env, PIPELINE))
    assert set(broken) == {
        "silver_unique_keys", "dlq_rows_logged", "dlq_failed_rules", "bronze_rows_logged", "last_run:silver",
        "gold_non_empty:gold/daily_revenue",
    }, broken
    assert broken["silver_unique_keys"].startswith(f"silver/orders: {silver_rows + 1} rows, {silver_rows} distinct")
    assert "1 duplicate row(s)" in broken["silver_unique_keys"]
    # the failed run's 7 quarantined rows committed nothing, so they are not expected in the DLQ
    assert broken["dlq_rows_logged"] == (
        f"silver/orders_dlq holds {silver.outcome.rows_quarantined - 4} rows; "
        f"the run log's silver rows_quarantined sum to {silver.outcome.rows_quarantined}"
    )
    assert broken["dlq_failed_rules"] == f"silver/orders_dlq: 5 of {silver.outcome.rows_quarantined - 4} rows have no _failed_rules"
    assert broken["bronze_rows_logged"] == "bronze/orders holds 996 rows; the run log's bronze rows_out sum to 1000"
    assert broken["last_run:silver"] == "run later-run failed: boom"
    assert broken["gold_non_empty:gold/daily_revenue"].startswith("gold/daily_revenue is empty while silver holds")


@pytest.mark.delta
def test_nothing_run_yet_fails_and_the_check_command_prints_json(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "conf/env").mkdir(parents=True)
    (tmp_path / "conf/env/empty.yaml").write_text(f"name: empty\nlanding_root: {tmp_path}/in\nlakehouse_root: {tmp_path}/lake\n")
    argv = ["check", "--pipeline", str(ROOT / "conf/pipelines/orders.yaml"), "--env", "empty",
            "--conf-dir", str(tmp_path / "conf"), "--output", "json"]

    assert main(argv) == 1
    results = json.loads(capsys.readouterr().out)
    assert {r["name"]: r["passed"] for r in results} == {
        "exists:bronze/orders": False, "exists:silver/orders": False, "exists:silver/orders_dlq": False,
        "exists:gold/daily_revenue": False, "run_log": False,
    }
    assert results[-1]["detail"] == f"no run log at {tmp_path}/lake/_audit/runs"
