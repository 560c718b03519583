"""The run report's data and page.

Pure tests of the data functions on hand-made records, then the data gathered from a lakehouse built
by real runs of the bundled sample (initial delivery, later delivery with a new column, a failed run:
see report_helpers), checked against the sample's manifests and the run reports the runs returned.
The page in a real browser is tested in test_report_browser.py.
"""
from __future__ import annotations

import re
import runpy
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from report_helpers import LANDING, LATER, ROOT, STARTS, STEP, THIRD_ROWS, SampleLakehouse

from medallion.checks.declared_checks import CheckRecord
from medallion.config import EnvConfig
from medallion.report.compute import (
    MAX_CELL,
    check_rows,
    drift_events,
    failed_runs,
    flow,
    latest_per_layer,
    safe_text,
    sample_values,
    schema_columns,
    trends,
)
from medallion.report.model import LayerRun
from medallion.report.render import chart_payload, render_html

NOW = datetime(2026, 11, 6, 7, 0, tzinfo=UTC)


def record(layer: str, run_id: str, minute: int, **counts: object) -> LayerRun:
    return LayerRun.from_row(
        {"run_id": run_id, "pipeline": "orders", "layer": layer, "table": "orders", "status": "succeeded",
         "started_at": datetime(2026, 11, 1, 6, minute, tzinfo=UTC), "duration_seconds": 2.0, **counts}
    )


# --------------------------------------------------------------------------- pure functions


def test_accounting_identity_per_layer() -> None:
    assert record("bronze", "r1", 0, rows_in=10, rows_out=10).identity.state == "holds"
    assert record("bronze", "r1", 0, rows_in=10, rows_out=9).identity.state == "broken"
    silver = record("silver", "r1", 1, rows_in=10, rows_out=5, rows_deleted=1, rows_quarantined=3, rows_superseded=1)
    assert silver.identity.state == "holds"
    assert silver.identity.formula == "in 10 = 5 merged + 1 deleted + 3 quarantined + 1 superseded"
    assert record("silver", "r1", 1, rows_in=10, rows_out=6, rows_quarantined=3).identity.state == "broken"
    failed = LayerRun.from_row({"run_id": "r", "layer": "silver", "status": "failed", "rows_in": 5})
    assert failed.identity.state == "n/a"
    assert record("gold", "r1", 2, rows_in=10, rows_out=2).identity.state == "n/a"


def test_from_row_tolerates_missing_columns_and_bad_details() -> None:
    run = LayerRun.from_row({"run_id": "r", "layer": "bronze", "details": "{not json"})
    assert (run.rows_in, run.status, run.details, run.started_at) == (0, "unknown", {}, None)
    naive = LayerRun.from_row({"run_id": "r", "layer": "bronze", "started_at": datetime(2026, 1, 1, 6)})
    assert naive.started_at == datetime(2026, 1, 1, 6, tzinfo=UTC)


def test_latest_per_layer_picks_the_newest_record_of_each_layer_in_layer_order() -> None:
    runs = [record("gold", "r1", 2), record("bronze", "r2", 10), record("bronze", "r1", 0), record("silver", "r1", 1)]
    latest = latest_per_layer(runs)
    assert list(latest) == ["bronze", "silver", "gold"]
    assert latest["bronze"].run_id == "r2" and latest["gold"].run_id == "r1"


def test_trends_keep_the_last_runs_and_compute_failure_rates() -> None:
    runs = []
    for i, rid in enumerate(["r1", "r2", "r3"]):
        runs.append(record("bronze", rid, 10 * i, rows_in=100 * (i + 1), rows_out=100 * (i + 1)))
    runs.append(record("silver", "r2", 11, rows_in=200, rows_out=150, details='{"expectations": {"a": 50, "b": 0}}'))
    runs.append(record("silver", "r3", 21, rows_in=0, details='{"expectations": {"a": 0, "z": 0}}'))
    t = trends(runs, last=2, expectations=["b", "a"])
    assert t.run_ids == ["r2", "r3"]
    assert t.labels == ["11-01 06:10", "11-01 06:20"]
    assert t.rows["bronze rows in"] == [200, 300]
    assert t.rows["silver merged"] == [150, 0]
    assert t.rows["gold rows written"] == [None, None]
    assert list(t.failure_rate) == ["b", "a", "z"]  # declared order first, then rules only the log knows
    assert t.failure_rate["a"] == [25.0, None]  # r3: silver read no row, no rate
    assert t.failure_rate["b"] == [0.0, None]
    assert t.duration["bronze"] == [2.0, 2.0] and t.duration["gold"] == [None, None]
    assert trends(runs, last=0).run_ids == []


def test_failed_runs_newest_first_with_masked_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_ACCOUNT_KEY", "s3cr3t-value-123")
    runs = [
        LayerRun.from_row({"run_id": "r1", "layer": "silver", "status": "failed", "error": "boom s3cr3t-value-123",
                           "started_at": datetime(2026, 11, 1, tzinfo=UTC)}),
        LayerRun.from_row({"run_id": "r2", "layer": "bronze", "status": "failed", "error": "x" * 5000,
                           "started_at": datetime(2026, 11, 2, tzinfo=UTC)}),
        record("gold", "r3", 0),
    ]
    failed = failed_runs(runs)
    assert [f.run_id for f in failed] == ["r2", "r1"]
    assert failed[1].error == "boom ***"
    assert len(failed[0].error) == 2000 and failed[0].error.endswith("…")


def test_drift_events_diff_consecutive_schemas() -> None:
    schema = '{"type":"struct","fields":[{"name":"a","type":"string"},{"name":"b","type":"string"}]}'
    assert schema_columns(schema) == ["a", "b"]
    events = drift_events(
        [(5, ["a", "b", "c"]), (0, ["a"]), (3, ["a", "b"]), (4, ["a", "b"])],
        {3: {"run_id": "r3", "at": datetime(2026, 11, 3, tzinfo=UTC)}, 5: {"run_id": None}},
    )
    assert [(e.version, e.run_id, e.columns) for e in events] == [(3, "r3", ["b"]), (5, None, ["c"])]
    assert events[0].at == "2026-11-03 00:00:00 UTC"
    assert drift_events([(0, ["a"])], {}) == []


def test_sample_values_mask_cut_and_skip_nulls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "tok-abcdef-987")
    row = {"order_id": None, "note": "password=hunter2;x", "token": "tok-abcdef-987", "long": "y" * 500,
           "_corrupt_record": None, "_failed_rules": ["amount_non_negative", "null_key"],
           "_source_file": "abfss://lake@acct.dfs.core.windows.net/landing/orders/f1.json",
           "_quarantine_run_id": "r1", "_bronze_version": 3}
    values = dict(sample_values(row))
    assert "order_id" not in values and "_bronze_version" not in values
    assert values["note"] == "password=***;x"
    assert values["token"] == "***"
    assert len(values["long"]) == MAX_CELL
    assert values["_failed_rules"] == "amount_non_negative, null_key"
    assert values["_source_file"] == "orders/f1.json"
    corrupt = sample_values({"a": None, "_corrupt_record": "{broken", "_failed_rules": ["corrupt_record"]})
    assert corrupt[0] == ("_corrupt_record", "{broken")
    assert safe_text(datetime(2026, 11, 1, 6, 5, tzinfo=UTC)) == "2026-11-01 06:05:00 UTC"


def test_check_rows_failures_first() -> None:
    at = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    records = [
        CheckRecord("min_rows", "silver/orders", "r2", "min_rows", "50", "10", True, "warn", at),
        CheckRecord("unique", "silver/orders", "r2", "unique", "2", "0", False, "fail", at),
    ]
    checks = check_rows(records)
    assert [(c.name, c.run_id, c.passed, c.observed) for c in checks] == [
        ("unique", "r2", False, "2"), ("min_rows", "r2", True, "50"),
    ]


def test_flow_labels_edges_with_the_latest_counts() -> None:
    latest = latest_per_layer([
        record("bronze", "r1", 0, rows_in=10, rows_out=10, rows_corrupt=1, files_ingested=2),
        record("silver", "r1", 1, rows_in=10, rows_out=6, rows_quarantined=3, rows_superseded=1),
        record("gold", "r1", 2, rows_in=6, rows_out=4, details='{"tables": {"g1": {"rows_out": 3, "mode": "full"}, "g2": {"rows_out": 1, "mode": "skipped"}}}'),
    ])
    graph = flow(bronze_table="b", silver_table="s", dlq_table="s_dlq", gold_tables=["g1", "g2"], latest=latest)
    edges = {(e.source, e.target): (e.value, e.label) for e in graph.edges}
    assert edges[("landing", "bronze/b")] == (10, "10 rows\n2 file(s)\n1 corrupt")
    assert edges[("bronze/b", "silver/s")] == (6, "6 merged\n1 superseded")
    assert edges[("bronze/b", "silver/s_dlq")] == (3, "3 quarantined")
    assert edges[("silver/s", "gold/g1")] == (3, "3 rows\n(full)")
    assert edges[("silver/s", "gold/g2")] == (1, "1 rows\n(skipped)")
    never = flow(bronze_table="b", silver_table=None, dlq_table=None, gold_tables=[], latest={})
    assert [n.status for n in never.nodes] == ["never run", "never run"] and len(never.edges) == 1


# --------------------------------------------------------------------------- real runs of the sample


@pytest.fixture(scope="module")
def sample_report(spark, sample_lakehouse: SampleLakehouse):  # noqa: ANN001, ANN201
    from medallion.report.gather import build_report

    return build_report(spark, sample_lakehouse.env, [sample_lakehouse.pipeline], runs=20, now=NOW)


@pytest.mark.delta
def test_latest_run_per_layer_from_real_runs(sample_lakehouse: SampleLakehouse, sample_report) -> None:  # noqa: ANN001
    first, second, third = sample_lakehouse.reports
    (d,) = sample_report.datasets
    assert d.status == "failed" and d.last_run is not None and d.last_run.run_id == third.run_id
    bronze, silver, gold = d.latest["bronze"], d.latest["silver"], d.latest["gold"]
    # the failed run: bronze ingested the third delivery, silver refused it, gold did not run
    assert (bronze.run_id, bronze.status, bronze.rows_in, bronze.rows_out) == (third.run_id, "succeeded", 3, 3)
    assert bronze.identity.state == "holds"
    assert (silver.run_id, silver.status, silver.identity.state) == (third.run_id, "failed", "n/a")
    assert "known_status" in (silver.error or "")
    assert gold.run_id == second.run_id and gold.status == "succeeded"
    assert gold.rows_out == next(r for r in second.results if r.layer == "gold").outcome.rows_out
    assert bronze.started_at == STARTS[2] + STEP and bronze.duration_seconds == STEP.total_seconds()


@pytest.mark.delta
def test_trends_from_real_runs_match_the_manifests(sample_lakehouse: SampleLakehouse, sample_report) -> None:  # noqa: ANN001
    (d,) = sample_report.datasets
    t = d.trends
    assert t.run_ids == [r.run_id for r in sample_lakehouse.reports]
    assert t.statuses == ["succeeded", "succeeded", "failed"]
    first, later = LANDING["silver"], LATER["silver"]
    assert t.rows["bronze rows in"] == [LANDING["totals"]["records"], LATER["totals"]["records"], len(THIRD_ROWS)]
    assert t.rows["silver merged"] == [first["rows_out"], later["rows_out"], 0]
    assert t.rows["dead-lettered"] == [first["rows_quarantined"], later["rows_quarantined"], 0]
    assert t.rows["gold rows written"][2] is None
    # failure rate = rows failing the rule / silver rows in; the manifests count the generated violations
    totals, late = LANDING["totals"], LATER["totals"]
    known = [100 * totals["unknown_status"] / 3000, 100 * late["unknown_status"] / 300, 100 * 1 / 3]
    assert t.failure_rate["known_status"] == pytest.approx(known, abs=1e-3)
    amount = [100 * totals["negative_amount"] / 3000, 100 * late["negative_amount"] / 300, 0.0]
    assert t.failure_rate["amount_non_negative"] == pytest.approx(amount, abs=1e-3)
    assert list(t.failure_rate) == ["order_id_present", "amount_non_negative", "known_status"]
    assert t.duration["silver"] == [7.0, 7.0, 7.0] and t.duration["gold"] == [7.0, 7.0, None]
    # every completed run adds up
    for report in sample_lakehouse.reports[:2]:
        for r in report.results:
            if r.layer in ("bronze", "silver"):
                assert LayerRun.from_row(r.columns()).identity.state == "holds", r.columns()


@pytest.mark.delta
def test_schema_drift_names_the_later_run_and_its_file(sample_lakehouse: SampleLakehouse, sample_report) -> None:  # noqa: ANN001
    (d,) = sample_report.datasets
    (event,) = d.drift
    assert event.columns == LATER["new_columns"] == ["coupon_code"]
    assert event.run_id == sample_lakehouse.reports[1].run_id
    assert event.files == {"coupon_code": [f"orders/{LATER['files'][0]['name']}"]}
    bronze_version = next(r for r in sample_lakehouse.reports[1].results if r.layer == "bronze").outcome.target_version
    assert event.version == bronze_version


@pytest.mark.delta
def test_dead_letters_by_rule_status_and_samples(spark, sample_lakehouse: SampleLakehouse, sample_report) -> None:  # noqa: ANN001
    (d,) = sample_report.datasets
    assert d.dead_letters is not None
    by_rule = {(g.rule, g.status): g.rows for g in d.dead_letters}
    reasons = {k: LANDING["silver"]["quarantine_reasons"][k] + LATER["silver"]["quarantine_reasons"][k]
               for k in LANDING["silver"]["quarantine_reasons"]}
    assert by_rule == {(rule, "pending"): n for rule, n in reasons.items()}
    assert {g.last_run_id for g in d.dead_letters} == {sample_lakehouse.reports[1].run_id}
    rules = [s.rule for s in d.dead_letter_samples]
    assert sorted(set(rules)) == sorted(reasons) and all(rules.count(r) == 2 for r in reasons)
    for s in d.dead_letter_samples:
        values = dict(s.values)
        assert s.rule in values["_failed_rules"].split(", ")
        assert all(len(v) <= MAX_CELL for v in values.values())
        if s.rule == "corrupt_record":
            assert values["_corrupt_record"]
    # the sample declares table checks (their history is shown) and bronze keeps a file record with no unreadable file
    assert d.checks and {c.table for c in d.checks} <= {"silver/orders", "gold/daily_revenue"}
    assert d.quarantined_files == []


@pytest.mark.delta
def test_failed_runs_and_flow_from_real_runs(spark, sample_lakehouse: SampleLakehouse, sample_report) -> None:  # noqa: ANN001
    (d,) = sample_report.datasets
    (failed,) = d.failed
    assert (failed.run_id, failed.layer) == (sample_lakehouse.reports[2].run_id, "silver")
    assert "known_status (1 of 3 rows)" in failed.error
    gold_rows = spark.read.format("delta").load(sample_lakehouse.env.table_path("gold", "daily_revenue")).count()
    edges = {(e.source, e.target): e.value for e in d.flow.edges}
    assert edges == {
        ("landing", "bronze/orders"): len(THIRD_ROWS),
        ("bronze/orders", "silver/orders"): 0,  # the latest silver run failed: nothing merged
        ("bronze/orders", "silver/orders_dlq"): 0,
        ("silver/orders", "gold/daily_revenue"): gold_rows,  # the latest gold run: a full rebuild
    }
    assert {n.id: n.status for n in d.flow.nodes}["silver/orders"] == "failed"


@pytest.mark.delta
def test_rendered_page_is_self_contained_and_escaped(sample_report) -> None:  # noqa: ANN001
    html = render_html(sample_report)
    assert "<script src" not in html and "<link" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "sourceMappingURL" not in html
    (d,) = sample_report.datasets
    assert f"{d.latest['gold'].rows_in:,}" in html
    payload = chart_payload(sample_report)
    assert [s["name"] for s in payload["datasets"][0]["trends"]["rows"]] == list(d.trends.rows)
    assert "coupon_code" in html and "known_status (1 of 3 rows)" in html


def test_render_escapes_values_from_the_lakehouse() -> None:
    from medallion.report.model import DatasetReport, Flow, Report

    evil = "<img src=x onerror=alert(1)>"
    run = LayerRun.from_row({"run_id": evil, "pipeline": "orders", "layer": "bronze", "status": "failed",
                             "error": evil, "started_at": NOW})
    trend = trends([run], last=5)
    d = DatasetReport("orders", {}, {"bronze": run}, Flow([], []), trend, failed_runs([run]), [], None, [], None, None, 1)
    html = render_html(Report("test", "/lake", NOW, 5, [d], True))
    assert evil not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


# --------------------------------------------------------------------------- empty lakehouse, command, job


@pytest.mark.delta
def test_empty_lakehouse_says_so(spark, tmp_path: Path) -> None:  # noqa: ANN001
    from medallion.config import load_pipeline
    from medallion.report.gather import build_report

    env = EnvConfig(name="fresh", landing_root=str(tmp_path / "landing"), lakehouse_root=str(tmp_path / "lake"))
    report = build_report(spark, env, [load_pipeline(ROOT / "conf/pipelines/orders.yaml")], now=NOW)
    assert report.empty and not report.has_run_log
    html = render_html(report)
    assert "No runs yet" in html and "data-chart=" not in html


@pytest.mark.delta
def test_checks_and_quarantined_files_shown_when_recorded(spark, sample_lakehouse: SampleLakehouse, tmp_path: Path) -> None:  # noqa: ANN001
    from medallion.bronze.file_log import FileEntry, FileLog, FileStatus
    from medallion.checks.declared_checks import CheckRecord, write_history
    from medallion.report.gather import build_report

    lake = tmp_path / "lake"
    shutil.copytree(sample_lakehouse.root / "lake", lake)
    env = EnvConfig(name="test", landing_root=str(tmp_path), lakehouse_root=str(lake))
    shutil.rmtree(lake / "_audit" / "checks", ignore_errors=True)  # replaced by the rows below
    write_history(spark, str(lake / "_audit/checks"), [  # through the check history's owner
        CheckRecord("min_rows", "silver/orders", "r1", "min_rows", "2648", "1", True, "fail", NOW - timedelta(hours=1)),
        CheckRecord("min_rows", "silver/orders", "r2", "min_rows", "0", "1", False, "fail", NOW),
        CheckRecord("unique", "gold/other_pipeline_table", "r2", "unique", "3", "0", False, "warn", NOW),
    ])
    files = FileLog(spark, env.files_path, env.table_path("bronze", sample_lakehouse.pipeline.bronze.table))
    unreadable = FileEntry("landing/orders/bad.json.gz", 123, 0, FileStatus.UNREADABLE, "EOFException: <truncated>")
    files.record([unreadable], bronze_version=0, committed=False, run_id="r2", now=NOW)
    report = build_report(spark, env, [sample_lakehouse.pipeline], now=NOW)
    (d,) = report.datasets
    assert [(c.name, c.table, c.run_id, c.passed) for c in d.checks or []] == [("min_rows", "silver/orders", "r2", False)]
    assert [(q.path, q.size, q.run_id) for q in d.quarantined_files or []] == [("landing/orders/bad.json.gz", "123", "r2")]
    html = render_html(report)
    assert "EOFException: &lt;truncated&gt;" in html and 'id="checks-0"' in html


@pytest.mark.delta
def test_report_job_writes_through_hadoop_file_system(spark, sample_lakehouse: SampleLakehouse, tmp_path: Path,  # noqa: ANN001
                                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """jobs/report_job.py with a file:// URL: the same Hadoop FileSystem path an abfss:// URL takes."""
    conf = tmp_path / "conf"
    (conf / "pipelines").mkdir(parents=True)
    (conf / "env").mkdir()
    shutil.copy(ROOT / "conf/pipelines/orders.yaml", conf / "pipelines/orders.yaml")
    env = sample_lakehouse.env
    (conf / "env/sample.yaml").write_text(
        f"name: sample\nlanding_root: {env.landing_root}\nlakehouse_root: {env.lakehouse_root}\n"
    )
    out = tmp_path / "out" / "report.html"
    monkeypatch.setattr(sys, "argv", ["report_job.py", "--env", "sample", "--conf-dir", str(conf), "--runs", "2",
                                      "--out", out.as_uri()])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(ROOT / "jobs/report_job.py"), run_name="__main__")
    assert done.value.code == 0
    assert out.is_file()
    html = out.read_text(encoding="utf-8")
    assert "trends over the last 2 run(s)" in html and 'data-pipeline="orders"' in html
    assert "report: " + out.as_uri() in capsys.readouterr().out


def test_report_command_arguments_and_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from medallion.cli import build_parser, main
    from medallion.errors import ConfigError
    from medallion.report.command import load_report_configs

    parser = build_parser()
    args = parser.parse_args(["report", "--env", "local"])
    assert (args.pipeline, args.all, args.out, args.runs) == (None, False, "report.html", 20)
    with pytest.raises(SystemExit):
        parser.parse_args(["report", "--env", "local", "--pipeline", "p.yaml", "--all"])
    with pytest.raises(SystemExit):
        parser.parse_args(["report", "--env", "local", "--runs", "0"])
    capsys.readouterr()

    conf = tmp_path / "conf"
    (conf / "env").mkdir(parents=True)
    (conf / "pipelines").mkdir()
    assert main(["report", "--env", "nope", "--conf-dir", str(conf)]) == 2  # before any JVM
    assert "environment 'nope' not found" in capsys.readouterr().err
    (conf / "env/local.yaml").write_text("name: local\nlanding_root: l\nlakehouse_root: k\n")
    with pytest.raises(ConfigError, match="no pipeline files"):
        load_report_configs(parser.parse_args(["report", "--env", "local", "--conf-dir", str(conf)]))
    shutil.copy(ROOT / "conf/pipelines/orders.yaml", conf / "pipelines/a.yaml")
    shutil.copy(ROOT / "conf/pipelines/orders.yaml", conf / "pipelines/b.yaml")
    with pytest.raises(ConfigError, match=r"datasets \['orders'\] are declared by more than one pipeline file"):
        load_report_configs(parser.parse_args(["report", "--env", "local", "--conf-dir", str(conf)]))
    env, pipelines = load_report_configs(
        parser.parse_args(["report", "--env", "local", "--conf-dir", str(conf), "--pipeline", "a.yaml"])
    )
    assert env.name == "local" and [p.dataset for p in pipelines] == ["orders"]


def test_vendored_echarts_is_the_npm_release_untouched() -> None:
    import hashlib
    from importlib import resources

    from medallion.report.render import ECHARTS_SHA256, ECHARTS_VERSION

    assets = resources.files("medallion.report").joinpath("assets")
    js = assets.joinpath("echarts.min.js").read_bytes()
    assert hashlib.sha256(js).hexdigest() == ECHARTS_SHA256
    assert f'"{ECHARTS_VERSION}"'.encode() in js
    assert b"Apache License" in assets.joinpath("ECHARTS-LICENSE").read_bytes()
