"""The run summary: what people read at a glance and what machines parse."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from medallion.audit.outcome import LayerOutcome, Status
from medallion.audit.run_log import RunRecord
from medallion.runner import RunReport

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def layer(name: str, **counts: int) -> RunRecord:
    return RunRecord(run_id="r1", pipeline="orders", environment="local", layer=name, table="orders",
                     status=Status.SUCCEEDED, started_at=T0, ended_at=T0 + timedelta(seconds=2.5), duration_seconds=2.5,
                     outcome=LayerOutcome(details={"tables_written": [f"{name}/orders"]}, **counts))


def test_summary_and_json_carry_each_layers_counts() -> None:
    report = RunReport("r1", "orders", "local", [
        layer("bronze", rows_in=10, rows_out=10, rows_corrupt=2, files_ingested=1),
        layer("silver", rows_in=10, rows_out=6, rows_quarantined=3, rows_superseded=1),
    ])
    text = report.to_text().splitlines()
    assert text[0] == "run r1  pipeline orders  env local: SUCCEEDED"
    assert text[2].split() == ["bronze", "succeeded", "10", "10", "2", "-", "-", "-", "1/1", "2.5", "bronze/orders"]
    assert text[3].split() == ["silver", "succeeded", "10", "6", "-", "3", "1", "0", "-", "2.5", "silver/orders"]

    data = report.to_json()
    assert data["run_id"] == "r1" and data["status"] == "succeeded"
    assert {k: data["bronze"][k] for k in ("status", "rows_in", "rows_out", "rows_corrupt")} == {
        "status": "succeeded", "rows_in": 10, "rows_out": 10, "rows_corrupt": 2}
    assert data["silver"]["rows_quarantined"] == 3 and "rows_corrupt" not in data["silver"]


def test_a_failed_layer_fails_the_report_and_shows_its_error() -> None:
    failed = replace(layer("silver", rows_in=5), status=Status.FAILED, ended_at=T0, duration_seconds=0.0,
                     error="fail expectation(s) violated: known_status (2 of 5 rows)")
    report = RunReport("r1", "orders", "local", [layer("bronze", rows_in=5, rows_out=5), failed])
    assert not report.ok and report.to_json()["status"] == "failed"
    assert report.to_text().splitlines()[-1] == "  silver failed: fail expectation(s) violated: known_status (2 of 5 rows)"


def test_a_project_report_lists_every_dataset_and_blocked_layers_fail_it() -> None:
    from medallion.runner import ProjectReport

    blocked = replace(layer("gold"), status=Status.BLOCKED,
                      outcome=LayerOutcome(status=Status.BLOCKED, details={"blocked_by": ["silver of orders"]}))
    orders = RunReport("r1", "orders", "local", [layer("bronze", rows_in=5, rows_out=5), blocked])
    customers = RunReport("r1", "customers", "local", [replace(layer("bronze", rows_in=3, rows_out=3), pipeline="customers")])
    report = ProjectReport("r1", "local", [orders, customers])
    assert not report.ok and not orders.ok and customers.ok
    data = report.to_json()
    assert data["status"] == "failed" and [p["pipeline"] for p in data["pipelines"]] == ["orders", "customers"]
    assert data["pipelines"][0]["gold"]["status"] == "blocked"
    text = report.to_text()
    assert "pipeline orders" in text and "pipeline customers" in text
    assert "  gold blocked: silver of orders did not succeed" in text.splitlines()


def test_records_of_layers_that_committed_nothing_wait_for_the_next_append(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Skipped and blocked records ride along with the next succeeded or failed one (one Delta commit),
    or are appended when the run ends, also when it ends in an exception."""
    import pytest
    from delta.tables import DeltaTable

    from medallion.runner import RunLogBuffer

    path = str(tmp_path / "runs")

    def skipped(name: str) -> RunRecord:
        return replace(layer(name), status=Status.SKIPPED)

    def commits() -> list[int]:
        return [r["version"] for r in DeltaTable.forPath(spark, path).history().collect()]

    with RunLogBuffer(spark, path) as run_log:
        run_log.add(layer("bronze", rows_in=5, rows_out=5))  # committed rows: logged at once
        assert commits() == [0]
        run_log.add(skipped("silver"))
        run_log.add(replace(layer("gold"), status=Status.BLOCKED))
        assert commits() == [0]
        run_log.add(replace(layer("silver"), run_id="r2", status=Status.FAILED, error="boom"))
        assert commits() == [1, 0]
        run_log.add(skipped("gold"))
    assert commits() == [2, 1, 0]
    logged = spark.read.format("delta").load(path)
    assert sorted((r["run_id"], r["layer"], r["status"]) for r in logged.collect()) == [
        ("r1", "bronze", "succeeded"), ("r1", "gold", "blocked"), ("r1", "gold", "skipped"),
        ("r1", "silver", "skipped"), ("r2", "silver", "failed")]

    with pytest.raises(RuntimeError), RunLogBuffer(spark, path) as run_log:
        run_log.add(replace(skipped("bronze"), run_id="r3"))
        raise RuntimeError("killed mid-run")
    assert spark.read.format("delta").load(path).where("run_id = 'r3'").count() == 1
