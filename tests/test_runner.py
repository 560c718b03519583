"""The run summary: what people read at a glance and what machines parse."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from medallion.outcome import LayerOutcome, Status
from medallion.run_log import RunRecord
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
