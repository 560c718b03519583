"""The circuit breaker (issue 26): opens after N consecutive failed runs of a dataset, refuses the next run
with exit code 3 and no layer started, closes on ``medallion resume`` or a changed pipeline file, and is
shown by ``medallion check``. Real runs through the CLI's ``main()`` in-process, on the session's Spark.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from delta.tables import DeltaTable
from report_helpers import ROOT, THIRD_ROWS

from medallion.audit.outcome import LayerOutcome, RunContext, Status
from medallion.audit.run_log import RUN_LOG_SCHEMA, RunRecord, layer_summaries, read_run_log, write_run_log
from medallion.cli import main
from medallion.config import EnvConfig, load_env, load_pipeline
from medallion.observe.breaker import BreakerState, breaker_states, fingerprint
from medallion.report.gather import build_report
from medallion.report.render import render_html

pytestmark = pytest.mark.delta


def _conf(tmp_path: Path, *, rule_action: str = "fail") -> Path:
    """A conf dir: env ``local`` with the breaker at 2 failures, the sample orders pipeline whose
    ``known_status`` rule is ``rule_action``, and one landing file with a status that rule refuses."""
    conf = tmp_path / "conf"
    (conf / "env").mkdir(parents=True, exist_ok=True)
    (conf / "pipelines").mkdir(exist_ok=True)
    env = {"name": "local", "landing_root": str(tmp_path / "landing"), "lakehouse_root": str(tmp_path / "lake"),
           "spark": {"spark.sql.shuffle.partitions": "2"}, "circuit_breaker": {"open_after_failures": 2}}
    (conf / "env/local.yaml").write_text(yaml.safe_dump(env))
    _write_pipeline(conf, rule_action)
    landing = tmp_path / "landing" / "orders"
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "orders_1.json").write_text("".join(json.dumps(r) + "\n" for r in THIRD_ROWS))
    return conf


def _write_pipeline(conf: Path, rule_action: str) -> None:
    data = yaml.safe_load((ROOT / "conf/pipelines/orders.yaml").read_text())
    for rule in data["silver"]["expectations"]:
        if rule["name"] == "known_status":
            rule["action"] = rule_action
    (conf / "pipelines/orders.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def _run(conf: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:
    rc = main(["run", "--pipeline", "orders.yaml", "--env", "local", "--conf-dir", str(conf), "--output", "json", *extra])
    return rc, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _log_rows(spark, lake: Path) -> int:  # noqa: ANN001
    return spark.read.format("delta").load(str(lake / "_audit/runs")).count()


def test_breaker_opens_after_n_failures_refuses_with_exit_3_and_closes_on_resume_and_on_a_changed_file(
    spark, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: ANN001
) -> None:
    conf = _conf(tmp_path)
    lake = tmp_path / "lake"
    for attempt in (1, 2):  # silver fails on the unknown status, twice
        rc, out = _run(conf, capsys)
        assert rc == 1 and out["silver"]["status"] == "failed", (attempt, out)

    # check shows the open breaker (and fails)
    rc = main(["check", "--pipeline", "orders.yaml", "--env", "local", "--conf-dir", str(conf), "--output", "json"])
    rows = json.loads(capsys.readouterr().out)
    breaker = next(r for r in rows if r["name"] == "circuit_breaker")
    assert rc == 1 and not breaker["passed"] and breaker["detail"].startswith("open: 2 consecutive failed runs")
    # and so does the report: the state in the lake card, a red badge beside it
    env, pipeline = load_env(conf / "env/local.yaml"), load_pipeline(conf / "pipelines/orders.yaml")
    page = build_report(spark, env, [pipeline], runs=5)
    assert page.datasets[0].lake.breaker.open
    html = render_html(page)
    assert 'id="breaker-badge-0">circuit breaker open<' in html
    assert "open: 2 consecutive failed runs (opens after 2)" in html

    # the third run is refused: exit 3, a message naming the dataset, its failures and resume; nothing ran
    logged, bronze_version = _log_rows(spark, lake), DeltaTable.forPath(spark, str(lake / "bronze/orders")).history(1)
    bronze_version = bronze_version.first()["version"]
    rc, out = _run(conf, capsys)
    assert rc == 3 and out["exit_code"] == 3 and out["status"] == "failed"
    assert "circuit breaker open for dataset 'orders'" in out["error"]
    assert "its last 2 runs failed" in out["error"] and "medallion resume --pipeline orders.yaml --env local" in out["error"]
    assert "known_status" in out["error"]  # the last failure's cause
    assert _log_rows(spark, lake) == logged  # no layer record: no layer started
    assert DeltaTable.forPath(spark, str(lake / "bronze/orders")).history(1).first()["version"] == bronze_version

    # resume closes it: the next run goes ahead (and fails again, still broken: 1 of 2)
    assert main(["resume", "--pipeline", "orders.yaml", "--env", "local", "--conf-dir", str(conf)]) == 0
    said = capsys.readouterr().out
    assert "orders: circuit breaker closed (was open: 2 consecutive failed run(s), opens after 2)" in said
    rc, out = _run(conf, capsys)
    assert rc == 1 and out["silver"]["status"] == "failed"
    rc, out = _run(conf, capsys)
    assert rc == 1  # the second failure since the resume: open again
    assert _run(conf, capsys)[0] == 3

    # a changed pipeline file (the rule relaxed to warn) closes it: the run goes ahead and succeeds
    _write_pipeline(conf, "warn")
    rc, out = _run(conf, capsys)
    assert rc == 0 and out["silver"]["status"] == "succeeded", out
    pipeline = load_pipeline(conf / "pipelines/orders.yaml")
    assert breaker_states(spark, env, [pipeline]) == {"orders": BreakerState("orders", 0, 2)}


def test_a_comment_does_not_change_the_fingerprint_but_a_rule_does(tmp_path: Path) -> None:
    conf = _conf(tmp_path)
    path = conf / "pipelines/orders.yaml"
    before = fingerprint(load_pipeline(path))
    path.write_text("# a comment\n" + path.read_text())
    assert fingerprint(load_pipeline(path)) == before
    _write_pipeline(conf, "warn")
    assert fingerprint(load_pipeline(path)) != before


def test_an_old_run_log_without_the_fingerprint_column_is_read_and_extended(spark, tmp_path: Path) -> None:  # noqa: ANN001
    from medallion.sql import rows_frame

    env = EnvConfig(name="t", landing_root=str(tmp_path / "landing"), lakehouse_root=str(tmp_path / "lake"),
                    circuit_breaker={"open_after_failures": 1})
    pipeline = load_pipeline(ROOT / "conf/pipelines/orders.yaml")
    now = __import__("datetime").datetime(2026, 11, 1, 6, 0)
    failed = [RunRecord.of(LayerOutcome(), context=RunContext(f"r{i}", now.replace(hour=i)), pipeline="orders",
                           environment="t", layer="silver", table="orders", ended_at=now.replace(hour=i), error="boom")
              for i in (1, 2)]
    # the run log as medallion wrote it before the breaker: the same columns but `fingerprint`
    old_schema = ", ".join(c for c in RUN_LOG_SCHEMA.split(", ") if not c.startswith("`fingerprint`"))
    old_rows = [tuple(v for k, v in zip(_names(RUN_LOG_SCHEMA), r.row(), strict=True) if k != "fingerprint") for r in failed]
    rows_frame(spark, old_rows, old_schema).write.format("delta").save(env.run_log_path)
    assert "fingerprint" not in read_run_log(spark, env.run_log_path).columns

    # failures without a fingerprint do not count (they may predate any change): the breaker stays closed
    assert breaker_states(spark, env, [pipeline])["orders"] == BreakerState("orders", 0, 1)
    # a new record appends (the column is added) and counts; older readers still work
    new = RunRecord.of(LayerOutcome(), context=RunContext("r3", now.replace(hour=3)), pipeline="orders",
                       environment="t", layer="silver", table="orders", ended_at=now.replace(hour=3), error="bang",
                       fingerprint=fingerprint(pipeline))
    write_run_log(spark, env.run_log_path, [new])
    runs = read_run_log(spark, env.run_log_path)
    assert "fingerprint" in runs.columns and runs.count() == 3
    state = breaker_states(spark, env, [pipeline])["orders"]
    assert (state.open, state.failures, state.last_failed_run, state.last_error) == (True, 1, "r3", "bang")
    summary = layer_summaries(spark, env.run_log_path, pipeline="orders", tables={"silver": None})
    assert summary is not None and summary["silver"].latest["run_id"] == "r3"
    assert summary["silver"].latest["status"] == str(Status.FAILED)


def _names(schema: str) -> list[str]:
    return [c.split("`")[1] for c in schema.split(", ")]


@pytest.mark.parametrize(("value", "said"), [
    ("{open_after_failures: 0}", "circuit_breaker.open_after_failures: Input should be greater than or equal to 1"),
    ("{open_after: 3}", "circuit_breaker.open_after: unknown key"),
])
def test_a_bad_circuit_breaker_setting_is_a_config_error_naming_the_key(tmp_path: Path, value: str, said: str) -> None:
    from medallion.errors import ConfigError

    env = tmp_path / "env.yaml"
    env.write_text(f"name: t\nlanding_root: a\nlakehouse_root: b\ncircuit_breaker: {value}\n")
    with pytest.raises(ConfigError, match=None) as err:
        load_env(env)
    assert str(env) in str(err.value) and said in str(err.value)


def test_counting_stops_at_a_success_a_resume_or_another_fingerprint_and_skips_blocked_runs() -> None:
    from medallion.observe.breaker import _count

    def run(rid: str, *, failed: bool = False, resumed: bool = False, blocked: bool = False, fp: str = "cur") -> dict:
        return {"run_id": rid, "failed": failed, "resumed": resumed, "only_blocked": blocked, "fingerprint": fp,
                "error": f"boom {rid}" if failed else None}

    newest_first = [run("r5", failed=True), run("r4", blocked=True), run("r3", failed=True), run("r2"), run("r1", failed=True)]
    assert _count("d", "cur", newest_first, 2) == BreakerState("d", 2, 2, "r5", "boom r5")
    assert _count("d", "cur", [run("r3", failed=True), run("r2", resumed=True), run("r1", failed=True)], 2).failures == 1
    assert _count("d", "cur", [run("r2", failed=True, fp="old"), run("r1", failed=True)], 1).failures == 0
    assert _count("d", "cur", [run("r2", failed=True, fp=None)], 1).open is False


def test_run_all_blocks_an_open_dataset_and_only_what_reads_it(
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]  # noqa: ANN001
) -> None:
    import shutil

    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    shutil.copytree(ROOT / "data" / "landing" / "customers", tmp_path / "data" / "landing" / "customers")
    monkeypatch.chdir(tmp_path)
    env_file = tmp_path / "conf/env/local.yaml"
    env_file.write_text(env_file.read_text() + "circuit_breaker:\n  open_after_failures: 2\n")
    env, orders = load_env(env_file), load_pipeline(tmp_path / "conf/pipelines/orders.yaml")
    # orders' last two runs failed (with its current pipeline file): its breaker is open
    at = __import__("datetime").datetime(2026, 11, 1, 6, 0)
    write_run_log(spark, env.run_log_path, [
        RunRecord.of(LayerOutcome(), context=RunContext(f"f{i}", at.replace(hour=i)), pipeline="orders",
                     environment="local", layer="bronze", table="orders", ended_at=at.replace(hour=i),
                     error="SourceError: landing unreachable", fingerprint=fingerprint(orders))
        for i in (1, 2)
    ])
    rc = main(["run", "--all", "--env", "local", "--output", "json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    by_dataset = {p["pipeline"]: p for p in out["pipelines"]}
    assert rc == 3, out
    assert {k: by_dataset["orders"][k]["status"] for k in ("bronze", "silver", "gold")} == dict.fromkeys(
        ("bronze", "silver", "gold"), "blocked")
    customers = by_dataset["customers"]
    assert (customers["bronze"]["status"], customers["silver"]["status"]) == ("succeeded", "succeeded")
    assert customers["gold"]["status"] == "blocked"  # its SQL reads {silver.orders}
    assert not (tmp_path / ".lakehouse/bronze/orders").exists()
    runs = read_run_log(spark, env.run_log_path)
    why = runs.where("pipeline = 'orders' and run_id = '{}'".format(out["run_id"])).select("details").first()["details"]
    assert "circuit breaker open (2 failed runs; `medallion resume`)" in why
    # blocked runs neither count nor reset: the breaker is still open at 2
    assert breaker_states(spark, env, [orders])["orders"].failures == 2
