"""OpenLineage events: one full run of the sample (bronze, silver, gold) sends START and COMPLETE per
layer to a local HTTP receiver, every event valid against our JSON Schema of the spec; a failing layer
sends FAIL; an unreachable lineage endpoint never fails a run."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from http_receiver import closed_port_url, receiver
from openlineage_schema import validate_event
from sample_project import run_json, sample_project

from medallion.cli import main
from medallion.config import EnvConfig
from medallion.observe.lineage.datasets import dataset_id, gold_lineage, referenced_columns
from medallion.observe.lineage.events import openlineage_run_id

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = json.loads((ROOT / "data/landing/orders.expected.json").read_text())


# --------------------------------------------------------------------------- naming, columns (no Spark)


def test_dataset_names_follow_the_openlineage_conventions(tmp_path: Path) -> None:
    assert dataset_id("abfss://lake@acct.dfs.core.windows.net/lakehouse/silver/orders") == (
        "abfss://lake@acct.dfs.core.windows.net", "/lakehouse/silver/orders")
    assert dataset_id(str(tmp_path / "lake" / "bronze" / "orders")) == ("file", str(tmp_path / "lake/bronze/orders"))
    assert dataset_id("file:///data/landing/orders") == ("file", "/data/landing/orders")


def test_columns_named_in_an_expression_not_in_its_literals() -> None:
    cols = ["order_id", "status", "amount", "Updated_At"]
    assert referenced_columns("cast(order_id as bigint)", cols) == ["order_id"]
    assert referenced_columns("upper(trim(`status`)) || 'amount'", cols) == ["status"]
    assert referenced_columns("to_timestamp(updated_at) + amount", cols) == ["Updated_At", "amount"]
    assert referenced_columns("count(*)", cols) == []


def test_gold_lineage_goes_through_derive_and_sql_has_none() -> None:
    from medallion.config.gold import GoldTable

    gold = GoldTable(table="t", group_by=["day", "status"], derive={"day": "to_date(updated_at)"},
                     measures={"n": "count(*)", "revenue": "sum(amount)"})
    assert gold_lineage(gold, "/s", ["order_id", "status", "amount", "updated_at"]) == {
        "day": [("/s", "updated_at")], "status": [("/s", "status")], "n": [], "revenue": [("/s", "amount")]}
    assert gold_lineage(GoldTable(table="u", sql="SELECT status FROM {silver}"), "/s", ["status"]) == {}


def test_openlineage_run_id_is_a_deterministic_uuid_per_layer_run() -> None:
    a = openlineage_run_id("20261126T132400Z-1a2b3c4d", "orders", "silver")
    assert uuid.UUID(a).version == 5
    assert a == openlineage_run_id("20261126T132400Z-1a2b3c4d", "orders", "silver")
    assert a != openlineage_run_id("20261126T132400Z-1a2b3c4d", "orders", "gold")


def test_lineage_is_off_by_default_and_one_section_turns_it_on() -> None:
    base = {"name": "t", "landing_root": "/l", "lakehouse_root": "/k"}
    assert EnvConfig.model_validate(base).lineage is None
    on = EnvConfig.model_validate({**base, "lineage": {"transport": {"type": "http", "url": "http://x"}}})
    assert on.lineage is not None and on.lineage.enabled
    with pytest.raises(ValueError, match="needs url"):
        EnvConfig.model_validate({**base, "lineage": {"transport": {"type": "http"}}})


# --------------------------------------------------------------------------- a real run


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lineage: Any) -> Path:
    return sample_project(tmp_path, monkeypatch, lineage=lineage)


_run = run_json



def _by_layer(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        out.setdefault(e["job"]["name"].split(".", 1)[1], []).append(e)
    return out


@pytest.mark.e2e
@pytest.mark.delta
def test_a_full_run_sends_valid_start_and_complete_events_per_layer(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with receiver() as r:
        project = _project(tmp_path, monkeypatch, {"namespace": "medallion-test", "transport": {"type": "http", "url": r.url}})
        rc, report = _run(capsys)
        events = [body for _, body in r.posts]
        paths = {p for p, _ in r.posts}
        # a DLQ replay is a run of its own: START and COMPLETE, the dead-letter table into silver
        replay_rc = main(["dlq", "replay", "--pipeline", "conf/pipelines/orders.yaml", "--env", "local", "--output", "json"])
        replayed = json.loads(capsys.readouterr().out.strip())
        replay_events = [body for _, body in r.posts[len(events):]]
    assert rc == 0, report
    assert replay_rc == 0, replayed
    assert [e["eventType"] for e in replay_events] == ["START", "COMPLETE"]
    assert all(validate_event(e) == [] for e in replay_events)
    assert replay_events[1]["job"]["name"] == "orders.dlq_replay"
    assert replay_events[1]["run"]["facets"]["medallion"]["runId"] == replayed["run_id"]
    assert [d["name"] for d in replay_events[1]["inputs"]] == [str(project / ".lakehouse/silver/orders_dlq")]
    assert [d["name"] for d in replay_events[1]["outputs"]] == [str(project / ".lakehouse/silver/orders"),
                                                                str(project / ".lakehouse/silver/orders_dlq")]
    assert paths == {"/api/v1/lineage"}
    for e in events:
        assert validate_event(e) == [], e["eventType"]
    layers = _by_layer(events)
    assert sorted(layers) == ["bronze", "gold", "silver"]
    lake = project / ".lakehouse"
    for layer, (start, end) in ((k, v) for k, v in layers.items()):
        assert (start["eventType"], end["eventType"]) == ("START", "COMPLETE")
        assert start["run"]["runId"] == end["run"]["runId"] == openlineage_run_id(report["run_id"], "orders", layer)
        assert end["run"]["facets"]["medallion"]["runId"] == report["run_id"]
        assert end["run"]["facets"]["medallion"]["status"] == report[layer]["status"]
        assert end["run"]["facets"]["medallion"]["counts"]["rows_out"] == report[layer]["rows_out"]
        assert start["job"]["namespace"] == "medallion-test"

    bronze = layers["bronze"][1]
    assert [(d["namespace"], d["name"]) for d in bronze["inputs"]] == [("file", str(project / "data/landing/orders"))]
    assert [(d["namespace"], d["name"]) for d in bronze["outputs"]] == [("file", str(lake / "bronze/orders"))]
    assert bronze["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == MANIFEST["totals"]["records"]

    silver = layers["silver"][1]
    outputs = {d["name"]: d for d in silver["outputs"]}
    main_table = outputs[str(lake / "silver/orders")]
    assert str(lake / "silver/orders_dlq") in outputs
    fields = {f["name"]: f["type"] for f in main_table["facets"]["schema"]["fields"]}
    assert fields["order_id"] == "bigint" and fields["amount"] == "decimal(12,2)"
    lineage = main_table["facets"]["columnLineage"]["fields"]
    bronze_name = str(lake / "bronze/orders")
    assert [{k: f[k] for k in ("namespace", "name", "field")} for f in lineage["customer_email"]["inputFields"]] == [
        {"namespace": "file", "name": bronze_name, "field": "customer_email"}]
    assert [f["field"] for f in lineage["updated_at"]["inputFields"]] == ["updated_at"]
    assertions = {a["name"]: a for a in main_table["facets"]["dataQualityAssertions"]["assertions"]}
    reasons = MANIFEST["silver"]["quarantine_reasons"]
    for rule in ("order_id_present", "amount_non_negative"):
        assert assertions[rule]["success"] is (reasons.get(rule, 0) == 0)
        assert assertions[rule]["actual"] == str(reasons.get(rule, 0))
    assert assertions["one_row_per_order"] == {**assertions["one_row_per_order"], "assertion": "unique",
                                                "success": True, "column": "order_id", "severity": "error"}
    assert outputs[str(lake / "silver/orders_dlq")]["outputFacets"]["outputStatistics"]["rowCount"] == report["silver"]["rows_quarantined"]

    gold = layers["gold"][1]
    daily = gold["outputs"][0]
    assert daily["name"] == str(lake / "gold/daily_revenue")
    gold_lineage_ = {k: [f["field"] for f in v["inputFields"]] for k, v in daily["facets"]["columnLineage"]["fields"].items()}
    assert gold_lineage_ == {"order_date": ["updated_at"], "status": ["status"], "revenue": ["amount"],
                             "customers": ["customer_email"]}  # orders = count(*) reads no column
    assert {a["name"]: a["success"] for a in daily["facets"]["dataQualityAssertions"]["assertions"]} == {
        "has_rows": True, "orders_counted": True}


@pytest.mark.delta
def test_a_failing_layer_sends_fail_and_an_unreachable_endpoint_never_fails_a_run(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # gold on an empty lake fails at once (no silver table): START, then FAIL with the error
    with receiver() as r:
        _project(tmp_path / "a", monkeypatch, {"transport": {"type": "http", "url": r.url}})
        rc, report = _run(capsys, "--layer", "gold")
        events = [body for _, body in r.posts]
    assert rc == 1 and report["gold"]["status"] == "failed"
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert all(validate_event(e) == [] for e in events)
    assert "does not exist" in events[1]["run"]["facets"]["errorMessage"]["message"]
    assert events[1]["run"]["facets"]["medallion"]["status"] == "failed"

    # nothing listens: the same run ends exactly as it would without lineage, with a warning
    url = closed_port_url()
    _project(tmp_path / "b", monkeypatch, {"transport": {"type": "http", "url": url + "/secret-path", "timeout": 2}})
    rc, report = _run(capsys, "--layer", "gold")
    assert rc == 1 and report["gold"]["status"] == "failed" and "does not exist" in report["gold"]["error"]
    warnings = [m.getMessage() for m in caplog.records if m.name == "medallion.observe.lineage"]
    assert any("not sent" in w for w in warnings)
    assert not any("secret-path" in w for w in warnings)


def test_the_schema_check_catches_what_the_spec_forbids() -> None:
    """The validator is not a rubber stamp: an event built without Spark passes, broken copies do not."""
    from datetime import UTC, datetime

    from openlineage.client.serde import Serde

    from medallion.audit.outcome import LayerOutcome, Status
    from medallion.audit.run_log import RunRecord
    from medallion.config import load_env, load_pipeline
    from medallion.observe.lineage.events import end_event

    env = EnvConfig.model_validate({**load_env(ROOT / "conf/env/dev.yaml").model_dump(), "lineage": {"transport": {"type": "console"}}})
    pipeline = load_pipeline(ROOT / "conf/pipelines/orders.yaml")
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    record = RunRecord("20261126T120000Z-00000000", "orders", "dev", "silver", "orders", Status.FAILED,
                       LayerOutcome(details={"expectations": {"order_id_present": 2}}), started_at=now, ended_at=now,
                       error="MERGE failed: AccountKey=c2VjcmV0a2V5;")
    event = json.loads(Serde.to_json(end_event(None, env, pipeline, record)))
    assert validate_event(event) == []
    assert event["eventType"] == "FAIL"
    assert event["outputs"][0]["namespace"] == "abfss://lake@stmedalliondev.dfs.core.windows.net"
    assert "c2VjcmV0a2V5" not in json.dumps(event)  # the error message is masked
    broken = json.loads(json.dumps(event))
    broken["run"]["runId"] = "20261126T120000Z-00000000"
    broken["eventTime"] = "yesterday"
    broken["outputs"][0]["facets"]["dataQualityAssertions"]["assertions"][0]["success"] = "no"
    del broken["run"]["facets"]["errorMessage"]["programmingLanguage"]
    errors = "\n".join(validate_event(broken))
    for fragment in ("not a 'uuid'", "not a 'date-time'", "not of type 'boolean'", "'programmingLanguage' is a required"):
        assert fragment in errors
