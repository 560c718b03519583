"""The ``medallion`` command line (and the job files' entry point).

Exit codes: 0 success; 1 the run failed; 2 bad usage or invalid configuration, reported before any
Spark work starts (schema-level) or before any write (SQL that does not parse).
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from medallion.config import EnvConfig, PipelineConfig, load_env, load_pipeline
from medallion.errors import ConfigError, MedallionError, first_cause
from medallion.logs import configure_logging, mask_secrets

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medallion.project import Project

__all__ = ["main", "build_parser"]

log = logging.getLogger(__name__)


def _common(parser: argparse.ArgumentParser, *, project: bool = False) -> None:
    if project:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--pipeline", help="the pipeline YAML file of one dataset")
        which.add_argument("--all", action="store_true", help="every pipeline file in {conf-dir}/pipelines")
    else:
        parser.add_argument("--pipeline", required=True, help="the pipeline YAML file of one dataset")
    parser.add_argument("--env", required=True, help="environment name: reads {conf-dir}/env/NAME.yaml")
    parser.add_argument("--conf-dir", default="conf", help="configuration folder (default: ./conf)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medallion", description="Bronze / silver / gold lakehouse jobs on Delta.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the pipeline's layers (--all: every dataset, then gold in dependency order)")
    _common(run, project=True)
    run.add_argument("--layer", choices=["bronze", "silver", "gold", "all"], default="all")
    run.add_argument("--output", choices=["text", "json"], default="text")
    run.set_defaults(handler=_cmd_run)

    validate = sub.add_parser("validate", help="validate the environment and pipeline files")
    _common(validate, project=True)
    validate.set_defaults(handler=_cmd_validate)

    check = sub.add_parser("check", help="post-run data-quality checks over the pipeline's tables and run log")
    _common(check)
    check.add_argument("--output", choices=["text", "json"], default="text")
    check.add_argument("--layers", type=_layer_list, default=None, metavar="LAYER[,LAYER]",
                       help="check only these layers (the ones a BronzeOnly/SilverOnly/GoldOnly run ran); default all")
    check.set_defaults(handler=_cmd_check)

    maintain = sub.add_parser("maintain", help="compact (OPTIMIZE) and VACUUM every table of the pipeline")
    _common(maintain)
    maintain.add_argument("--retention-hours", type=int, default=None, help="VACUUM retention (default: env file)")
    maintain.add_argument(
        "--allow-unsafe-retention", action="store_true", help="allow a retention below Delta's 168 h safety limit"
    )
    maintain.set_defaults(handler=_cmd_maintain)

    from medallion.dlq.cli import add_dlq_parser

    add_dlq_parser(sub, _common, _configured_session)

    from medallion.observe.breaker_command import add_resume_parser

    add_resume_parser(sub, _common, _cmd_resume)

    schema = sub.add_parser("schema", help="write the JSON Schemas of the environment and pipeline files")
    schema.add_argument("--out", default="schemas", help="output folder (default: ./schemas)")
    schema.set_defaults(handler=_cmd_schema)

    from medallion.report.command import add_report_parser

    add_report_parser(sub)

    try:
        from medallion.azure.commands import add_parsers
    except ImportError:  # the azure commands are optional
        pass
    else:
        add_parsers(sub)
    return parser


def _layer_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = sorted(set(names) - {"bronze", "silver", "gold"})
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"expected bronze, silver and/or gold, got {text!r}")
    return names


def _resolve_pipeline(arg: str, conf_dir: str) -> Path:
    """The pipeline file as given, else under ``{conf-dir}/pipelines/`` or ``{conf-dir}/``."""
    candidates = [Path(arg), Path(conf_dir) / "pipelines" / arg, Path(conf_dir) / arg]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return Path(arg)


def load_configs(args: argparse.Namespace) -> tuple[EnvConfig, PipelineConfig, Path]:
    """Load and validate both files (no JVM); raises ConfigError naming file and key."""
    env = _load_env(args)
    pipeline_file = _resolve_pipeline(args.pipeline, args.conf_dir)
    pipeline = load_pipeline(pipeline_file)
    from medallion.project import project_of

    project_of(pipeline_file, pipeline).validate()  # {silver.NAME} / {gold.NAME} resolve, no cycles
    from medallion.security.source_roots import check_source_root

    check_source_root(env, pipeline, file=str(pipeline_file))
    return env, pipeline, pipeline_file


def _load_env(args: argparse.Namespace) -> EnvConfig:
    env_file = Path(args.conf_dir) / "env" / f"{args.env}.yaml"
    if not env_file.is_file():
        raise ConfigError(f"environment {args.env!r} not found (looked for {env_file})", file=str(env_file))
    return load_env(env_file)


def _configured_project(args: argparse.Namespace) -> tuple[SparkSession, EnvConfig, Project]:
    """``--all``: every pipeline file validated (files, references, cycles; then Spark's parser)."""
    from medallion.project import load_project

    env = _load_env(args)
    project = load_project(args.conf_dir)
    from medallion.security.source_roots import check_source_root

    for p in project.pipelines:
        check_source_root(env, p.config, file=str(p.path))
    from medallion.config.validation import validate_pipeline_sql
    from medallion.session import get_spark

    spark = get_spark(env.spark, app_name="medallion-project")
    for p in project.pipelines:
        validate_pipeline_sql(spark, p.config, file=str(p.path))
    return spark, env, project


def _configured_session(args: argparse.Namespace) -> tuple[SparkSession, EnvConfig, PipelineConfig, Path]:
    """Load and validate both files (before any JVM), then start Spark and parse the pipeline's SQL."""
    env, pipeline, pipeline_file = load_configs(args)
    from medallion.config.validation import validate_pipeline_sql
    from medallion.session import get_spark  # imported only once the files are valid: no pyspark before

    spark = get_spark(env.spark, app_name=f"medallion-{pipeline.dataset}")
    checked = validate_pipeline_sql(spark, pipeline, file=str(pipeline_file))
    log.info("%s: %d SQL section(s) parse", pipeline_file, checked)
    return spark, env, pipeline, pipeline_file


def _cmd_run(args: argparse.Namespace) -> int:
    from medallion.layers import layers_for
    from medallion.observe.breaker_command import project_exit_code, refuse_if_open, refused_datasets
    from medallion.runner import ProjectReport, RunReport, run_pipeline, run_project

    report: RunReport | ProjectReport
    if args.all:
        spark, env, project = _configured_project(args)
        refused = refused_datasets(spark, env, [p.config for p in project.pipelines])
        report = run_project(spark, env, project, args.layer, refused=refused)
        code = project_exit_code(report, refused)
    else:
        spark, env, pipeline, _ = _configured_session(args)
        refuse_if_open(spark, env, pipeline, args.pipeline)  # exit 3 before any layer starts
        report = run_pipeline(spark, env, pipeline, layers_for(pipeline, args.layer))
        code = 0 if report.ok else 1
    if args.output == "json":
        print(mask_secrets(json.dumps(report.to_json(), default=str)))
    else:
        print(mask_secrets(report.to_text()))
    return code


def _cmd_validate(args: argparse.Namespace) -> int:
    from medallion.config.table_features import warn_unreadable

    if args.all:
        _, env, project = _configured_project(args)
        for p in project.pipelines:
            print(f"OK: {p.path} ({p.dataset}) is valid for environment {env.name}")
        for message in warn_unreadable([p.config for p in project.pipelines], env.consumers, env.spark):
            print(f"WARNING: {message}")
        return 0
    _, env, pipeline, pipeline_file = _configured_session(args)
    print(f"OK: {pipeline_file} ({pipeline.dataset}) is valid for environment {env.name}")
    for message in warn_unreadable([pipeline], env.consumers, env.spark):
        print(f"WARNING: {message}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from medallion.checks.declared_checks import latest_results
    from medallion.checks.table_checks import CheckResult, format_results, run_checks

    spark, env, pipeline, _ = _configured_session(args)
    from medallion.observe.breaker_command import breaker_checks

    results = run_checks(spark, env, pipeline, args.layers) + breaker_checks(spark, env, pipeline)
    # The latest result of each declared `checks:` entry (of the layers checked); a failed `warn` check
    # is reported, not failed.
    declared = [r for r in latest_results(spark, env, pipeline)
                if args.layers is None or r.table.split("/")[0] in args.layers]
    as_results = [CheckResult(f"{r.table}:{r.name}", not r.failed_run, r.detail()) for r in declared]
    if args.output == "json":
        rows = [asdict(r) for r in results]
        rows += [{**asdict(r), **asdict(c), "check": r.name, "check_passed": r.passed}
                 for c, r in zip(as_results, declared, strict=True)]
        print(json.dumps(rows, default=str))
    else:
        print(format_results(results + as_results))
    return 0 if all(r.passed for r in results + as_results) else 1


def _cmd_resume(args: argparse.Namespace) -> int:
    from medallion.observe.breaker_command import do_resume

    spark, env, pipeline, _ = _configured_session(args)
    return do_resume(spark, env, pipeline, args.output)


def _cmd_maintain(args: argparse.Namespace) -> int:
    from medallion.maintenance import maintain

    spark, env, pipeline, _ = _configured_session(args)
    done = maintain(
        spark, env, pipeline, retention_hours=args.retention_hours, allow_unsafe=args.allow_unsafe_retention
    )
    for entry in done:
        print(json.dumps(entry, default=str))
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from medallion.config.schemas import write_schemas

    for path in write_schemas(Path(args.out)):
        print(path)
    return 0


@contextmanager
def _stdout_for_results_only() -> Iterator[None]:
    """Keep stdout for our own output: the JVM and Ivy, which write to file descriptor 1 (e.g. Ivy's
    ``:: loading settings ::``), are pointed at stderr, so ``--output json`` stays one clean object.
    """
    try:
        real = sys.stdout.fileno() == 1
    except (AttributeError, OSError, io.UnsupportedOperation):
        real = False  # stdout already redirected in-process (e.g. under pytest): nothing to protect
    if not real:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    original = sys.stdout
    sys.stdout = os.fdopen(os.dup(saved), "w", encoding=original.encoding or "utf-8")
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stdout.close()
        sys.stdout = original
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, return its exit code (the console entry point exits with it)."""
    configure_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    with _stdout_for_results_only():
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return int(args.handler(args))
    except ConfigError as err:
        print(f"medallion: error: {mask_secrets(str(err))}", file=sys.stderr)
        return _failed_json(args, err, 2)
    except MedallionError as err:
        log.error("%s", err)
        return _failed_json(args, err, err.exit_code)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # the last resort: log it (secrets masked) and fail the run
        log.exception("unexpected error")
        print(f"medallion: error: {mask_secrets(first_cause(err))}", file=sys.stderr)
        return _failed_json(args, err, 1)


def _failed_json(args: argparse.Namespace, err: BaseException, code: int) -> int:
    """Under ``--output json``, a failure before a report exists is still exactly one JSON object."""
    if getattr(args, "output", None) == "json":
        out = {
            "status": "failed",
            "exit_code": code,
            "command": getattr(args, "command", None),
            "pipeline": getattr(args, "pipeline", None),
            "environment": getattr(args, "env", None),
            "error": mask_secrets(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__),
            "cause": mask_secrets(first_cause(err)),
        }
        print(json.dumps(out))
    return code


def entrypoint() -> None:  # pragma: no cover - used by the job files
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entrypoint()
