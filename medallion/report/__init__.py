"""The run report: one self-contained HTML page per environment (``medallion report``).

* :mod:`~medallion.report.gather` reads the run log, dead letters, check results, quarantined-file
  records and bronze's Delta log (Spark);
* :mod:`~medallion.report.model` holds the page's data as plain dataclasses, and
  :mod:`~medallion.report.compute` the pure functions computing them (counts, rates, drift events);
* :mod:`~medallion.report.render` renders it with Jinja2 and inlines Apache ECharts;
* :mod:`~medallion.report.output` writes it locally or through Hadoop (``abfss://``).

Example:
    >>> report = build_report(spark, env, [pipeline], runs=20)
    >>> write_report(spark, render_html(report), "report.html")
"""
from __future__ import annotations

from medallion.report.model import Report
from medallion.report.render import render_html

__all__ = ["Report", "build_report", "render_html", "write_report"]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # gather and output import pyspark; keep `import medallion.report` (render only) free of it.
    if name == "build_report":
        from medallion.report.gather import build_report

        return build_report
    if name == "write_report":
        from medallion.report.output import write_report

        return write_report
    raise AttributeError(name)
