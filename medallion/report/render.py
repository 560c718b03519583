"""Render a :class:`~medallion.report.model.Report` as one self-contained HTML page.

Jinja2 (autoescape on) renders ``templates/report.html.j2``; the stylesheet, the page's script and
Apache ECharts (vendored from npm, ``assets/echarts.min.js``, Apache-2.0, licence beside it) are read
from the package and inlined, so the file opens with no network. The charts' data travels as one JSON
document in a ``<script type="application/json">`` element (Jinja2's ``tojson`` escapes ``<``, ``>``,
``&`` and quotes), which ``report.js`` turns into ECharts options.
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import UTC
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from medallion.report.lake import age_text, size_text
from medallion.report.model import DatasetReport, Report

__all__ = ["render_html", "chart_payload", "ECHARTS_VERSION", "ECHARTS_SHA256"]

ECHARTS_VERSION = "6.1.0"
#: ``dist/echarts.min.js`` of the npm package ``echarts@6.1.0``, byte for byte (``npm pack echarts@6.1.0``).
ECHARTS_SHA256 = "b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0"


@cache
def _asset(name: str) -> str:
    return resources.files("medallion.report").joinpath("assets", name).read_text(encoding="utf-8")


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("medallion.report", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v: "–" if v is None else f"{v:,}"
    env.filters["secs"] = lambda v: "–" if v is None else f"{v:,.1f} s"
    env.filters["age"] = age_text
    env.filters["bytes"] = size_text
    return env


def chart_payload(report: Report) -> dict[str, Any]:
    """What ``report.js`` draws: per dataset, the flow graph and the trend series."""
    return {
        "datasets": [
            {
                "pipeline": d.pipeline,
                "flow": asdict(d.flow),
                "trends": {
                    "run_ids": d.trends.run_ids,
                    "labels": d.trends.labels,
                    "statuses": d.trends.statuses,
                    # Lists, not objects: tojson sorts object keys, and the series order matters.
                    "rows": _series(d.trends.rows),
                    "duration": _series(d.trends.duration),
                    "failure_rate": _series(d.trends.failure_rate),
                },
            }
            for d in report.datasets
        ]
    }


def _series(series: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [{"name": name, "data": values} for name, values in series.items()]


def _script_safe(js: str) -> str:
    # An inline <script> ends at the first "</script"; the vendored files have none, keep it so.
    if "</script" in js.lower():
        raise ValueError("an inlined script contains '</script'")
    return js


def render_html(report: Report) -> str:
    """The page as a string (UTF-8 text, no external reference)."""
    template = _environment().get_template("report.html.j2")
    datasets: list[DatasetReport] = report.datasets
    return template.render(
        report=report,
        datasets=datasets,
        generated=report.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        payload=chart_payload(report),
        css=_asset("report.css"),
        echarts_js=_script_safe(_asset("echarts.min.js")),
        report_js=_script_safe(_asset("report.js")),
        echarts_version=ECHARTS_VERSION,
    )
