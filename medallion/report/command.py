"""``medallion report``: the command's arguments and handler (wired into :mod:`medallion.cli`)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from medallion.config import EnvConfig, PipelineConfig, load_env, load_pipeline
from medallion.errors import ConfigError

__all__ = ["add_report_parser", "cmd_report", "load_report_configs"]

log = logging.getLogger(__name__)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_report_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add the ``report`` subcommand to ``sub``."""
    report = sub.add_parser(
        "report", help="write the run report: one self-contained HTML page (latest runs, flow, trends, drift, dead letters)"
    )
    report.add_argument("--env", required=True, help="environment name: reads {conf-dir}/env/NAME.yaml")
    report.add_argument("--conf-dir", default="conf", help="configuration folder (default: ./conf)")
    which = report.add_mutually_exclusive_group()
    which.add_argument("--pipeline", help="one pipeline YAML file (default: --all)")
    which.add_argument("--all", action="store_true", help="every pipeline in {conf-dir}/pipelines/ (the default)")
    report.add_argument("--out", default="report.html", help="output file or URL, e.g. abfss://… (default: report.html)")
    report.add_argument("--runs", type=_positive, default=20, help="how many recent runs the trends cover (default: 20)")
    report.set_defaults(handler=cmd_report)
    return report


def load_report_configs(args: argparse.Namespace) -> tuple[EnvConfig, list[PipelineConfig]]:
    """The environment and the pipelines the page covers (no JVM); ConfigError names file and key."""
    conf = Path(args.conf_dir)
    env_file = conf / "env" / f"{args.env}.yaml"
    if not env_file.is_file():
        raise ConfigError(f"environment {args.env!r} not found (looked for {env_file})", file=str(env_file))
    env = load_env(env_file)
    if args.pipeline:
        candidates = [Path(args.pipeline), conf / "pipelines" / args.pipeline, conf / args.pipeline]
        files = [next((c for c in candidates if c.is_file()), Path(args.pipeline))]
    else:
        files = sorted((conf / "pipelines").glob("*.y*ml"))
        if not files:
            raise ConfigError(f"no pipeline files (*.yaml) in {conf / 'pipelines'}", file=str(conf / "pipelines"))
    pipelines = [load_pipeline(f) for f in files]
    names = [p.dataset for p in pipelines]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"datasets {repeated} are declared by more than one pipeline file", file=str(conf / "pipelines"))
    return env, pipelines


def cmd_report(args: argparse.Namespace) -> int:
    """Build, render and write the page; prints where it went. Exit 0 whatever the runs' status."""
    env, pipelines = load_report_configs(args)
    from medallion.report.gather import build_report  # pyspark only once the files are valid
    from medallion.report.output import write_report
    from medallion.report.render import render_html
    from medallion.session import get_spark

    spark = get_spark(env.spark, app_name="medallion-report")
    report = build_report(spark, env, pipelines, runs=args.runs)
    html = render_html(report)
    where = write_report(spark, html, args.out)
    shown = sum(d.runs_shown for d in report.datasets)
    print(f"report: {where} ({len(html.encode('utf-8')):,} bytes; {len(pipelines)} dataset(s), {shown} run(s))")
    return 0
