"""The run report in a real browser: Debian's headless Chromium driven over the DevTools protocol by
Playwright (``executable_path`` = the system Chromium; Playwright's own browser download is never used).

Checked on the page built from real runs of the sample: the latest run's numbers are in the DOM,
every chart holds an ECharts instance with data and drew pixels on its canvas, the console stayed
clean, and no request left the file. The empty-lakehouse page renders too.

Set ``MEDALLION_REPORT_SCREENSHOT=path.png`` to keep the full-page screenshot (docs/report.png is
made that way).
"""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from report_helpers import ROOT, SampleLakehouse

from medallion.config import EnvConfig, load_pipeline
from medallion.report.render import render_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (`apt-get install chromium`; .ci/run installs it)"),
]
NOW = datetime(2026, 11, 6, 7, 0, tzinfo=UTC)
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions",
]

# Per chart: the ECharts instance's series with a value, and the canvas pixels that are not transparent.
CHART_STATE = """
() => Array.from(document.querySelectorAll('[data-chart]')).map((el) => {
  const chart = echarts.getInstanceByDom(el);
  const series = chart ? chart.getOption().series : [];
  const points = series.reduce((n, s) => n + (s.data || []).filter((v) => v !== null && v !== undefined).length
                                        + (s.links || []).length, 0);
  let painted = 0;
  el.querySelectorAll('canvas').forEach((c) => {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) painted++; }
  });
  return {id: el.id, kind: el.getAttribute('data-chart'), instance: !!chart, series: series.length, points, painted,
          width: el.clientWidth, height: el.clientHeight};
})
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra) is not installed")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as pw:
        # A persistent context is how Playwright takes --user-data-dir; the browser is the system Chromium.
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS,
            viewport={"width": 1440, "height": 900}, device_scale_factor=1,
        )
        try:
            yield context
        finally:
            context.close()


class Visit:
    """One page load: console messages, page errors, every request, the load-to-charts time."""

    def __init__(self, context: Any, path: Path) -> None:
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = context.new_page()
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        # Anything that is not the file itself is refused (and recorded above).
        self.page.route("**/*", lambda route: route.continue_() if route.request.url == path.as_uri() else route.abort())
        started = time.perf_counter()
        self.page.goto(path.as_uri(), wait_until="load")
        self.page.wait_for_function("document.body.hasAttribute('data-charts')", timeout=60_000)
        self.seconds = time.perf_counter() - started


@pytest.fixture(scope="module")
def sample_page(spark, sample_lakehouse: SampleLakehouse, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    from medallion.report.gather import build_report

    report = build_report(spark, sample_lakehouse.env, [sample_lakehouse.pipeline], runs=20, now=NOW)
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    return report, path


@pytest.mark.delta
def test_page_renders_in_chromium_with_every_chart_and_no_network(browser, sample_page, tmp_path: Path) -> None:  # noqa: ANN001
    report, path = sample_page
    visit = Visit(browser, path)
    page = visit.page
    shot = Path(os.environ.get("MEDALLION_REPORT_SCREENSHOT") or tmp_path / "report.png")
    page.screenshot(path=str(shot), full_page=True)
    size = path.stat().st_size
    print(f"\nreport page: {size:,} bytes, load to charts drawn: {visit.seconds:.2f} s, screenshot {shot}")

    assert visit.errors == [] and [m for m in visit.console if m[0] in ("error", "warning")] == []
    assert visit.requests == [path.as_uri()], visit.requests
    assert shot.stat().st_size > 50_000

    (d,) = report.datasets
    latest = page.locator("#latest-0")
    bronze, silver, gold = d.latest["bronze"], d.latest["silver"], d.latest["gold"]
    bronze_row = latest.locator("tr[data-layer=bronze]").inner_text()
    assert "succeeded" in bronze_row and f"{bronze.rows_in:,}" in bronze_row and "holds" in bronze_row
    assert "failed" in latest.locator("tr[data-layer=silver]").inner_text()
    gold_row = latest.locator("tr[data-layer=gold]").inner_text()
    assert f"{gold.rows_in:,}" in gold_row and f"{gold.rows_out:,}" in gold_row
    assert silver.run_id in page.locator("#failed-0").inner_text()
    assert "known_status (1 of 3 rows)" in page.locator("#failed-0").inner_text()
    assert "coupon_code" in page.locator("#drift-0").inner_text()
    dlq = page.locator("#dlq-0").inner_text()
    assert all(g.rule in dlq and f"{g.rows:,}" in dlq for g in d.dead_letters or [])

    charts = page.evaluate(CHART_STATE)
    assert sorted(c["kind"] for c in charts) == ["duration", "flow", "rates", "rows"], charts
    for chart in charts:
        assert chart["instance"] and chart["series"] >= 1 and chart["points"] >= 1, chart
        assert chart["width"] > 200 and chart["height"] > 200, chart
        # a drawn chart paints thousands of pixels (axes, bars, labels); an empty canvas paints none
        assert chart["painted"] > 5_000, chart


@pytest.mark.delta
def test_empty_lakehouse_page_renders_and_says_so(spark, browser, tmp_path: Path) -> None:  # noqa: ANN001
    from medallion.report.gather import build_report

    env = EnvConfig(name="fresh", landing_root=str(tmp_path / "landing"), lakehouse_root=str(tmp_path / "lake"))
    report = build_report(spark, env, [load_pipeline(ROOT / "conf/pipelines/orders.yaml")], now=NOW)
    path = tmp_path / "empty.html"
    path.write_text(render_html(report), encoding="utf-8")
    visit = Visit(browser, path)
    assert visit.errors == [] and [m for m in visit.console if m[0] == "error"] == []
    assert visit.requests == [path.as_uri()]
    assert "No runs yet" in visit.page.locator("#empty").inner_text()
    assert visit.page.evaluate("document.body.getAttribute('data-charts')") == "0"
