"""The circuit breaker on the command line: ``medallion resume``, the refusal in ``medallion run`` and the
line in ``medallion check`` (wired into :mod:`medallion.cli`; the breaker itself is :mod:`medallion.observe.breaker`).
"""
from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from medallion.observe.breaker import BreakerOpen, BreakerState, breaker_states, resume

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medallion.checks.table_checks import CheckResult
    from medallion.config import EnvConfig, PipelineConfig
    from medallion.runner import ProjectReport

__all__ = ["add_resume_parser", "refuse_if_open", "refused_datasets", "project_exit_code", "breaker_checks"]

log = logging.getLogger(__name__)


def add_resume_parser(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: Callable[[argparse.ArgumentParser], None],
    handler: Callable[[argparse.Namespace], int],
) -> None:
    """Add ``medallion resume --pipeline P --env E [--conf-dir DIR]``."""
    parser = sub.add_parser("resume", help="close the dataset's circuit breaker (its next run is not refused)")
    common(parser)
    parser.add_argument("--output", choices=["text", "json"], default="text")
    parser.set_defaults(handler=handler)


def resume_text(state: BreakerState, output: str) -> str:
    """What ``medallion resume`` prints about the state it closed."""
    if output == "json":
        return json.dumps({"dataset": state.dataset, "was_open": state.open, "failures": state.failures,
                           "open_after_failures": state.open_after, "status": "closed"})
    if not state.enabled:
        return f"{state.dataset}: the circuit breaker is off in this environment (resume recorded anyway)"
    was = "was open" if state.open else "was not open"
    return (f"{state.dataset}: circuit breaker closed ({was}: {state.failures} consecutive failed run(s), "
            f"opens after {state.open_after}); the next run goes ahead")


def do_resume(spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, output: str) -> int:
    print(resume_text(resume(spark, env, pipeline), output))
    return 0


def refuse_if_open(spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, pipeline_arg: str) -> None:
    """Raise :class:`BreakerOpen` (exit 3) when the dataset's breaker is open; nothing of it runs."""
    if env.circuit_breaker is None:
        return
    state = breaker_states(spark, env, [pipeline])[pipeline.dataset]
    if state.open:
        raise BreakerOpen(state.message(pipeline_arg, env.name))


def refused_datasets(spark: SparkSession, env: EnvConfig, pipelines: Sequence[PipelineConfig]) -> dict[str, str]:
    """``run --all``: ``{dataset: why}`` for every dataset whose breaker is open (logged, one line each)."""
    if env.circuit_breaker is None:
        return {}
    refused = {}
    for dataset, state in breaker_states(spark, env, pipelines).items():
        if state.open:
            log.error("%s", state.message(f"{dataset}.yaml", env.name))
            refused[dataset] = f"circuit breaker open ({state.failures} failed runs; `medallion resume`)"
    return refused


def project_exit_code(report: ProjectReport, refused: dict[str, str]) -> int:
    """0 all ran; 1 a layer failed; 3 nothing failed but a dataset was refused by its open breaker."""
    from medallion.audit.outcome import Status

    if report.ok:
        return 0
    failed = any(r.status == Status.FAILED for rep in report.reports for r in rep.results)
    return 1 if failed or not refused else BreakerOpen.exit_code


def breaker_checks(spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig) -> list[CheckResult]:
    """``medallion check``: one ``circuit_breaker`` result when the breaker is on (failed while open)."""
    from medallion.checks.table_checks import CheckResult

    if env.circuit_breaker is None:
        return []
    state = breaker_states(spark, env, [pipeline])[pipeline.dataset]
    return [CheckResult("circuit_breaker", not state.open, state.summary())]
