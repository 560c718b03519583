"""The whole pipeline through the CLI on the bundled sample: counts add up, gold is right, reruns are no-ops."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from medallion.cli import main

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = json.loads((ROOT / "data/landing/orders.expected.json").read_text())
LATER = json.loads((ROOT / "data/later/orders.expected.json").read_text())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repo's conf/ and sample data; the CLI runs from there as a user would."""
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copytree(ROOT / "data" / "landing", tmp_path / "data" / "landing")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:
    rc = main(["run", "--pipeline", "conf/pipelines/orders.yaml", "--env", "local", "--output", "json", *extra])
    out = capsys.readouterr().out.strip()
    return rc, json.loads(out)


def versions(spark: SparkSession, lake: Path) -> dict[str, int]:
    tables = ["bronze/orders", "silver/orders", "silver/orders_dlq", "gold/daily_revenue"]
    return {t: DeltaTable.forPath(spark, str(lake / t)).history(1).first()["version"] for t in tables}


@pytest.mark.e2e
@pytest.mark.delta
def test_full_run_then_noop_then_later_delivery(spark: SparkSession, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = project / ".lakehouse"
    totals = MANIFEST["totals"]

    rc, first = run(capsys)
    assert rc == 0 and first["status"] == "succeeded", first
    bronze, silver, gold = first["bronze"], first["silver"], first["gold"]
    assert (bronze["rows_in"], bronze["rows_out"], bronze["rows_corrupt"], bronze["files_ingested"]) == (
        totals["records"], totals["records"], totals["corrupt"], totals["files"],
    )
    assert silver["rows_in"] == bronze["rows_out"]
    assert silver["rows_in"] == silver["rows_out"] + silver["rows_quarantined"] + silver["rows_superseded"]
    silver_df = spark.read.format("delta").load(str(lake / "silver/orders"))
    assert silver_df.count() == silver_df.select("order_id").distinct().count()

    # gold equals an independent computation over silver
    expected_gold = (
        silver_df.groupBy(F.to_date("updated_at").alias("order_date"), "status")
        .agg(F.count("*").alias("orders"), F.sum("amount").alias("revenue"), F.countDistinct("customer_email").alias("customers"))
    )
    actual_gold = spark.read.format("delta").load(str(lake / "gold/daily_revenue"))
    assert_df_equality(actual_gold, expected_gold, ignore_row_order=True, ignore_nullable=True, ignore_column_order=True)
    assert gold["rows_out"] == expected_gold.count()
    # the sample's gold table fits in one file: Z-order cannot pay, so no OPTIMIZE, and the run log says why
    zorders = DeltaTable.forPath(spark, str(lake / "gold/daily_revenue")).history().where("operation = 'OPTIMIZE'")
    assert zorders.count() == 0
    gold_log = spark.read.format("delta").load(str(lake / "_audit/runs")).where(
        (F.col("run_id") == first["run_id"]) & (F.col("layer") == "gold")).first()
    decision = json.loads(gold_log["details"])["tables"]["daily_revenue"]["zorder"]
    assert decision["run"] is False and "threshold" in decision["reason"] or "fits in one" in decision["reason"]

    # the run log: one typed record per layer, all sharing the run id
    log = spark.read.format("delta").load(str(lake / "_audit/runs")).where(F.col("run_id") == first["run_id"])
    assert sorted(r["layer"] for r in log.collect()) == ["bronze", "gold", "silver"]
    silver_log = log.where("layer = 'silver'").first()
    assert silver_log["rows_in"] == silver_log["rows_out"] + silver_log["rows_quarantined"] + silver_log["rows_superseded"]

    # a rerun with nothing new changes no table, and logs its three records in one run-log commit
    before = versions(spark, lake)
    log_version = DeltaTable.forPath(spark, str(lake / "_audit/runs")).history(1).first()["version"]
    rc, second = run(capsys)
    assert rc == 0 and [second[layer]["status"] for layer in ("bronze", "silver", "gold")] == ["skipped"] * 3
    assert versions(spark, lake) == before
    runs = spark.read.format("delta").load(str(lake / "_audit/runs"))
    assert runs.where(F.col("run_id") == second["run_id"]).count() == 3
    assert DeltaTable.forPath(spark, str(lake / "_audit/runs")).history(1).first()["version"] == log_version + 1

    # a later delivery with updates, stale versions, violations and corrupt lines
    shutil.copytree(ROOT / "data/later/orders", project / "data/landing/orders", dirs_exist_ok=True)
    rc, third = run(capsys)
    assert rc == 0, third
    later = LATER["totals"]
    assert (third["bronze"]["rows_in"], third["bronze"]["rows_corrupt"]) == (later["records"], later["corrupt"])
    s3 = third["silver"]
    assert s3["rows_in"] == later["records"]
    assert s3["rows_in"] == s3["rows_out"] + s3["rows_quarantined"] + s3["rows_superseded"]
    silver_df = spark.read.format("delta").load(str(lake / "silver/orders"))
    assert silver_df.count() == silver_df.select("order_id").distinct().count()
    dlq = spark.read.format("delta").load(str(lake / "silver/orders_dlq"))
    assert dlq.count() == silver["rows_quarantined"] + s3["rows_quarantined"]
    assert dlq.where(F.array_contains("_failed_rules", "corrupt_record")).count() == totals["corrupt"] + later["corrupt"]


@pytest.mark.e2e
@pytest.mark.delta
def test_fail_expectation_exits_1_and_writes_nothing(spark: SparkSession, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = project / "conf/pipelines/orders.yaml"
    pipeline.write_text(pipeline.read_text().replace("action: warn", "action: fail"))
    rc, report = run(capsys)
    assert rc == 1 and report["status"] == "failed"
    assert report["bronze"]["status"] == "succeeded" and report["silver"]["status"] == "failed"
    assert "known_status" in report["silver"]["error"]
    assert "gold" not in report, "layers after a failed one must not run"
    assert not DeltaTable.isDeltaTable(spark, str(project / ".lakehouse/silver/orders"))
    assert not DeltaTable.isDeltaTable(spark, str(project / ".lakehouse/silver/orders_dlq"))
