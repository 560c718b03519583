"""The report shows the lake, not only the last run (issue 26), read off the page in Debian's Chromium.

The lake: the bundled sample after two real deliveries, then a rerun with nothing new (every layer
``skipped``). On that page a person on call must still find the table totals, the last run that did work
and the dead letters in total; the freshness badge turns red once the newest data is older than the
pipeline's ``freshness`` check allows. Expected numbers come from reading the tables themselves.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from report_helpers import ROOT, STARTS, stepping_clock
from test_report_browser import CHROMIUM, Visit, browser  # noqa: F401  (the module's Chromium fixture)

from medallion.clock import utc_now
from medallion.columns import DLQ_STATUS
from medallion.config import EnvConfig, load_pipeline
from medallion.config.gold import TableCheck
from medallion.layers import layers_for
from medallion.report.render import render_html
from medallion.runner import run_pipeline

pytestmark = [pytest.mark.delta, pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")]


@pytest.fixture(scope="module")
def noop_lake(spark, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    """Two deliveries, then a rerun with nothing new; returns (env, pipeline, the three run reports)."""
    root = tmp_path_factory.mktemp("lake-noop")
    landing = root / "landing" / "orders"
    shutil.copytree(ROOT / "data/landing/orders", landing)
    env = EnvConfig(name="test", landing_root=str(root / "landing"), lakehouse_root=str(root / "lake"),
                    circuit_breaker={"open_after_failures": 3})
    pipeline = load_pipeline(ROOT / "conf/pipelines/orders.yaml")
    layers = layers_for(pipeline, "all")
    reports = [run_pipeline(spark, env, pipeline, layers, clock=stepping_clock(STARTS[0]))]
    shutil.copytree(ROOT / "data/later/orders", landing, dirs_exist_ok=True)
    reports.append(run_pipeline(spark, env, pipeline, layers, clock=stepping_clock(STARTS[1])))
    reports.append(run_pipeline(spark, env, pipeline, layers, clock=stepping_clock(STARTS[2])))
    assert [r.status for r in reports[-1].results] == ["skipped"] * 3, reports[-1].to_text()
    return env, pipeline, reports


def _with_freshness(pipeline, max_age: str):  # noqa: ANN001, ANN202
    """The pipeline as the report sees it, with a ``freshness`` check (the report reads its threshold)."""
    check = TableCheck(name="fresh", freshness={"column": "updated_at", "max_age": max_age}, action="warn")
    silver = pipeline.silver.model_copy(update={"checks": [*pipeline.silver.checks, check]})
    return pipeline.model_copy(update={"silver": silver})


def test_noop_lake_page_shows_table_totals_last_work_and_dead_letters_in_total(spark, browser, noop_lake, tmp_path: Path) -> None:  # noqa: ANN001, F811
    from medallion.report.gather import build_report

    env, pipeline, reports = noop_lake
    report = build_report(spark, env, [_with_freshness(pipeline, "26h")], runs=20, now=utc_now())
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    visit = Visit(browser, path)
    page = visit.page
    shot = Path(os.environ.get("MEDALLION_REPORT_SCREENSHOT") or tmp_path / "lake.png")
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nno-op lake page: {path.stat().st_size:,} bytes, screenshot {shot}")
    assert visit.errors == [] and [m for m in visit.console if m[0] in ("error", "warning")] == []
    assert visit.requests == [path.as_uri()]

    # table totals: rows, files as the tables hold them
    tables = page.locator("#tables-0")
    for name, table_path in pipeline.tables(env).items():
        row = tables.locator(f'tr[data-table="{name}"]').inner_text()
        if not Path(table_path, "_delta_log").is_dir():
            assert "not written yet" in row
            continue
        rows = spark.read.format("delta").load(table_path).count()
        files = len(spark.read.format("delta").load(table_path).inputFiles())
        assert f"{rows:,}" in row and f"\t{files:,}\t" in row, (name, row, rows, files)
    bronze_rows = spark.read.format("delta").load(env.table_path("bronze", "orders")).count()
    assert bronze_rows == 3_300 and "3,300" in tables.locator('tr[data-table="bronze/orders"]').inner_text()

    # the latest run is skipped everywhere; beside it, the last run that did work (the second delivery)
    worked = reports[1]
    work = page.locator("#work-0")
    for record in worked.results:
        row = work.locator(f"tr[data-layer={record.layer}]").inner_text()
        assert "skipped" in row and record.run_id in row, row
        assert f"{record.outcome.rows_in:,}" in row and f"{record.outcome.rows_out:,}" in row, row
    assert reports[2].run_id not in work.inner_text()

    # dead letters in total, each row once, by status
    dlq = spark.read.format("delta").load(env.table_path("silver", pipeline.silver.dlq))
    total = dlq.count()
    pending = dlq.where(f"coalesce({DLQ_STATUS}, 'pending') = 'pending'").count() if DLQ_STATUS in dlq.columns else total
    assert total > 0
    said = page.locator("#dlq-total-0").inner_text()
    assert f"{total:,} in total" in said and f"{pending:,} pending" in said and "0 discarded" in said, said

    # fresh within 26 h (the data just landed), the breaker on and closed
    assert page.locator("#fresh-badge-0").inner_text() == "fresh"
    assert "ago" in page.locator("#fresh-landing-0").inner_text() and "ago" in page.locator("#fresh-silver-0").inner_text()
    assert page.locator("#breaker-0").inner_text() == "closed: 0 consecutive failed run(s) of 3 allowed"
    assert page.locator("#breaker-badge-0").count() == 0


def test_the_freshness_badge_turns_red_past_the_threshold(spark, noop_lake) -> None:  # noqa: ANN001
    from medallion.report.gather import build_report

    env, pipeline, _ = noop_lake
    later = utc_now() + timedelta(days=3)
    stale = build_report(spark, env, [_with_freshness(pipeline, "2d")], runs=5, now=later)
    fresh = stale.datasets[0].lake.freshness
    assert (fresh.state, fresh.threshold_text) == ("stale", "2d") and fresh.silver_age > 2 * 86400
    assert replace(fresh, threshold_seconds=4 * 86400.0).state == "fresh"
    assert replace(fresh, threshold_seconds=None).state == "no threshold"
    html = render_html(stale)
    assert 'class="badge fresh-stale" id="fresh-badge-0">stale<' in html
