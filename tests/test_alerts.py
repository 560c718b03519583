"""Webhook alerts against a local receiver: one post per target per run, in the Teams / Slack shape,
retried on 5xx, never failing a run, with secrets and webhook URLs kept out of messages and logs."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from http_receiver import closed_port_url, receiver
from sample_project import run_json, sample_project

from medallion.audit.outcome import LayerOutcome, Status
from medallion.audit.run_log import RunRecord
from medallion.config import EnvConfig
from medallion.config.observe import NotifyTarget
from medallion.observe.alerts import Finding, notify_run

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def _env(*targets: dict[str, Any]) -> EnvConfig:
    return EnvConfig.model_validate({"name": "t", "landing_root": "/l", "lakehouse_root": "/k", "notify": list(targets)})


def _failed(error: str = "MERGE failed") -> RunRecord:
    return RunRecord("run-1", "orders", "t", "silver", "orders", Status.FAILED, LayerOutcome(), started_at=NOW,
                     ended_at=NOW, error=error)


# --------------------------------------------------------------------------- without Spark


def test_a_failed_run_posts_one_text_message_with_secrets_masked(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WAREHOUSE_PASSWORD", "hunter2-very-secret")
    caplog.set_level("INFO")
    with receiver() as r:
        url = f"{r.url}/webhookb2/abc?sig=WEBHOOKSIGNATURE"
        sent = notify_run(None, _env({"url": url}), "run-1", [],
                          [_failed("login failed for hunter2-very-secret; AccountKey=c2VjcmV0a2V5;")])
    assert sent == 1
    assert len(r.posts) == 1
    path, body = r.posts[0]
    assert path == "/webhookb2/abc?sig=WEBHOOKSIGNATURE"
    assert list(body) == ["text"]  # the shape Slack and Teams incoming webhooks both accept
    assert body["text"].startswith("medallion t: run run-1: run_failed")
    assert "orders silver failed" in body["text"]
    assert "hunter2-very-secret" not in body["text"] and "c2VjcmV0a2V5" not in body["text"]
    assert "WEBHOOKSIGNATURE" not in caplog.text and r.url not in caplog.text


def test_a_500_is_retried_and_the_second_attempt_delivers() -> None:
    with receiver(statuses=[500, 200]) as r:
        assert notify_run(None, _env({"url": r.url}), "run-1", [], [_failed()]) == 1
    assert r.answered == [500, 200]
    assert len(r.posts) == 1


def test_a_4xx_is_not_retried_and_nothing_raises(caplog: pytest.LogCaptureFixture) -> None:
    with receiver(statuses=[404]) as r:
        assert notify_run(None, _env({"url": r.url + "/gone"}), "run-1", [], [_failed()]) == 0
    assert r.answered == [404]
    assert "webhook 1 of 1 not reached" in caplog.text and "/gone" not in caplog.text


def test_an_unreachable_webhook_is_logged_without_its_url(caplog: pytest.LogCaptureFixture) -> None:
    url = closed_port_url() + "/secret-hook"
    assert notify_run(None, _env({"url": url}), "run-1", [], [_failed()]) == 0
    assert "not reached after 3 attempts" in caplog.text
    assert "secret-hook" not in caplog.text and url not in caplog.text


def test_targets_get_only_the_events_they_list() -> None:
    with receiver() as r:
        sent = notify_run(None, _env({"url": r.url, "on": ["check_failed", "stale"]}), "run-1", [], [_failed()])
    assert sent == 0 and r.posts == []
    target = NotifyTarget(url="http://x", on=["dead_letters"], dead_letters_above=100)
    assert not Finding("dead_letters", "orders", "", 100).wanted_by(target)
    assert Finding("dead_letters", "orders", "", 101).wanted_by(target)
    assert not Finding("run_failed", "orders", "").wanted_by(target)


def test_notify_is_validated() -> None:
    with pytest.raises(ValueError, match="notify.0.on.0"):
        _env({"url": "http://x", "on": ["sometimes"]})
    assert _env().notify == []


# --------------------------------------------------------------------------- a real run


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notify: Any) -> Path:
    return sample_project(tmp_path, monkeypatch, notify=notify)


_run = run_json



@pytest.mark.e2e
@pytest.mark.delta
def test_a_failing_run_sends_exactly_one_alert_and_an_unreachable_webhook_fails_nothing(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # silver with a `fail` check that cannot pass and a stale-data (freshness) warn check
    pipeline_file = ROOT / "conf/pipelines/orders.yaml"
    pipeline = yaml.safe_load(pipeline_file.read_text())
    pipeline["silver"]["checks"] += [
        {"name": "a_million_orders", "min_rows": 1_000_000, "action": "fail"},
        {"name": "fresh_orders", "freshness": {"column": "updated_at", "max_age": "1d"}, "action": "warn"},
    ]
    unreachable = closed_port_url() + "/unreachable-hook"
    with receiver() as all_events, receiver() as few_letters:
        project = _project(tmp_path, monkeypatch, [
            {"url": all_events.url, "dead_letters_above": 10},
            {"url": few_letters.url, "on": ["dead_letters"], "dead_letters_above": 1000},
            {"url": unreachable, "on": ["run_failed"]},
        ])
        (project / "conf/pipelines/orders.yaml").write_text(yaml.safe_dump(pipeline))
        rc, report = _run(capsys)
        posts, quiet = list(all_events.posts), list(few_letters.posts)
    assert rc == 1 and report["silver"]["status"] == "failed" and "gold" not in report  # silver's check failed
    assert len(posts) == 1, posts  # one alert per target per run, however many reasons
    text = posts[0][1]["text"]
    assert text.splitlines()[0] == f"medallion local: run {report['run_id']}: check_failed, dead_letters, run_failed, stale"
    assert "a_million_orders (min_rows) did not pass" in text
    assert "stale data: silver/orders check fresh_orders (freshness)" in text
    assert f"orders: {report['silver']['rows_quarantined']} dead letters pending in silver/orders_dlq" in text
    assert quiet == []  # 42 pending is not above 1000
    assert "webhook 3 of 3 not reached" in caplog.text and "unreachable-hook" not in caplog.text

    # the webhook down, a run that succeeds still succeeds (gold over the committed silver table)
    caplog.clear()
    _project(project, monkeypatch, [{"url": unreachable, "on": ["dead_letters"]}])
    rc, report = _run(capsys, "--layer", "gold")
    assert rc == 0 and report["gold"]["status"] == "succeeded"
    assert "webhook 1 of 1 not reached" in caplog.text and "unreachable-hook" not in caplog.text


def test_the_shipped_env_files_stay_valid_with_the_variables_unset_and_turn_on_with_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from medallion.config import load_env

    for name in ("OPENLINEAGE_URL", "ALERT_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    for env_name in ("dev", "test", "prod"):
        env = load_env(ROOT / f"conf/env/{env_name}.yaml")
        assert env.lineage is not None and not env.lineage.active
        assert [t.url for t in env.notify] == [""]
    assert notify_run(None, load_env(ROOT / "conf/env/dev.yaml"), "run-1", [], [_failed()]) == 0
    monkeypatch.setenv("OPENLINEAGE_URL", "http://marquez:5000")
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "https://example.invalid/hook")
    env = load_env(ROOT / "conf/env/prod.yaml")
    assert env.lineage is not None and env.lineage.active and env.lineage.transport.url == "http://marquez:5000"
    assert env.notify[0].url == "https://example.invalid/hook"
    assert env.notify[0].on == ["run_failed", "check_failed", "dead_letters", "stale"]  # YAML's bare `on:` key
    assert env.notify[0].dead_letters_above == 100


def test_submit_hands_only_set_endpoint_variables_to_the_driver() -> None:
    from medallion.observe import driver_env_conf

    assert driver_env_conf({"OPENLINEAGE_URL": "http://m:5000", "ALERT_WEBHOOK_URL": "$(alertWebhookUrl)",
                            "OTHER": "x"}) == {"spark.yarn.appMasterEnv.OPENLINEAGE_URL": "http://m:5000"}
    assert driver_env_conf({"ALERT_WEBHOOK_URL": ""}) == {}
