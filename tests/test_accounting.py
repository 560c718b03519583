"""One accounting identity per layer: the runner, ``medallion check`` and the report agree, deletes included."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from medallion.audit.accounting import accounting_identity
from medallion.audit.outcome import LayerOutcome, Status
from medallion.checks.table_checks import run_checks
from medallion.config import EnvConfig, load_pipeline
from medallion.report.gather import build_report
from medallion.report.model import LayerRun
from medallion.runner import run_pipeline

REPO = Path(__file__).resolve().parents[1]


def test_silver_identity_counts_deletes() -> None:
    counts = {"rows_in": 374, "rows_out": 334, "rows_deleted": 24, "rows_quarantined": 2, "rows_superseded": 14}
    identity = accounting_identity("silver", "succeeded", counts)
    assert (identity.state, identity.formula) == ("holds", "in 374 = 334 merged + 24 deleted + 2 quarantined + 14 superseded")
    broken = accounting_identity("silver", "succeeded", {**counts, "rows_deleted": 0})
    assert (broken.state, broken.holds) == ("broken", False)
    assert broken.formula == "in 374 ≠ 334 merged + 0 deleted + 2 quarantined + 14 superseded"


def test_bronze_gold_and_failed_runs() -> None:
    assert accounting_identity("bronze", "succeeded", {"rows_in": 3, "rows_out": 3}).formula == "in 3 = 3 out"
    assert accounting_identity("bronze", "skipped", {"rows_in": 3, "rows_out": 2}).state == "broken"
    assert accounting_identity("gold", "succeeded", {"rows_in": 9, "rows_out": 2}).state == "n/a"
    assert accounting_identity("silver", Status.FAILED, {"rows_in": 9}).state == "n/a"
    # a run log older than a count column: the missing count is 0, not an error
    assert accounting_identity("silver", "succeeded", {"rows_in": 2, "rows_out": 2}).state == "holds"


def test_report_record_reads_the_outcomes_counts() -> None:
    run = LayerRun.from_row({"run_id": "r", "layer": "silver", "status": "succeeded", "rows_in": 10, "rows_out": 6,
                             "rows_deleted": 3, "rows_quarantined": 1, "target_version": 4})
    assert run.counts == LayerOutcome(rows_in=10, rows_out=6, rows_deleted=3, rows_quarantined=1, target_version=4)
    assert (run.rows_deleted, run.rows_superseded, run.identity.state) == (3, 0, "holds")
    with pytest.raises(AttributeError):
        _ = run.rows_nonexistent


@pytest.mark.delta
def test_a_run_that_deletes_holds_in_the_runner_the_check_and_the_report(spark, tmp_path: Path) -> None:  # noqa: ANN001
    landing = tmp_path / "landing"
    shutil.copytree(REPO / "data" / "landing" / "customers", landing / "customers")
    env = EnvConfig(name="test", landing_root=str(landing), lakehouse_root=str(tmp_path / "lake"))
    pipeline = load_pipeline(REPO / "conf" / "pipelines" / "customers.yaml")

    report = run_pipeline(spark, env, pipeline, ["bronze", "silver"])

    assert report.ok
    silver = next(r for r in report.results if r.layer == "silver").outcome
    assert silver.rows_deleted > 0  # the sample's CDC feed deletes keys
    assert accounting_identity("silver", silver.status, vars(silver)).state == "holds"
    checks = {r.name: r for r in run_checks(spark, env, pipeline, layers=("bronze", "silver"))}
    assert checks["last_run:silver"].passed, checks["last_run:silver"].detail
    assert f"+ {silver.rows_deleted:,} deleted" in checks["last_run:silver"].detail
    page = build_report(spark, env, [pipeline])
    latest = page.datasets[0].latest["silver"]
    assert latest.rows_deleted == silver.rows_deleted
    assert latest.identity.state == "holds", latest.identity.formula
    assert page.datasets[0].status == "succeeded"
