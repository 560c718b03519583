"""The circuit breaker: a dataset whose runs keep failing is refused instead of spending a Spark job.

Off by default. With ``circuit_breaker: {open_after_failures: N}`` in the env file, a dataset whose last
N runs (of its own layers: bronze, silver, gold) failed is *open*: ``medallion run`` refuses it (exit
code 3, naming the dataset, its failures and ``medallion resume``), ``run --all`` records its layers
``blocked`` and blocks only what reads it, and ``medallion check`` and the report show it.

The state lives in the run log, nowhere else:

* every record carries the pipeline's :func:`fingerprint` (a hash of the validated pipeline
  configuration); only the failures of runs with the current fingerprint count, so a changed pipeline
  file closes the breaker (an edit that does not change what the pipeline does, e.g. a comment, does not);
* ``medallion resume`` appends a record of layer :data:`RESUME_LAYER`; failures before it do not count.

Counting: from the newest run backwards, failed runs are counted until a run that did not fail, a
resume, or a run with another fingerprint. A run whose records are all ``blocked`` (stopped by another
dataset's failure, or refused by the breaker itself) neither counts nor resets.

Example:
    >>> states = breaker_states(spark, env, [pipeline])
    >>> states["orders"].open
    False
"""
from __future__ import annotations

import getpass
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from medallion.errors import MedallionError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medallion.config import EnvConfig, PipelineConfig

__all__ = [
    "BreakerOpen",
    "BreakerState",
    "RESUME_LAYER",
    "EXIT_BREAKER_OPEN",
    "fingerprint",
    "breaker_states",
    "resume",
]

log = logging.getLogger(__name__)

#: The run-log layer of a ``medallion resume`` record.
RESUME_LAYER = "resume"
#: The exit code of a run refused by an open breaker.
EXIT_BREAKER_OPEN = 3
_RUN_LAYERS = ("bronze", "silver", "gold")


class BreakerOpen(MedallionError):
    """A run refused because the dataset's circuit breaker is open (exit code 3)."""

    exit_code = EXIT_BREAKER_OPEN


@dataclass(frozen=True)
class BreakerState:
    """One dataset's breaker: its consecutive failed runs (with the current fingerprint) and the limit."""

    dataset: str
    failures: int = 0
    open_after: int | None = None  # None: the breaker is off in this environment
    last_failed_run: str | None = None
    last_error: str | None = None

    @property
    def enabled(self) -> bool:
        return self.open_after is not None

    @property
    def open(self) -> bool:
        return self.open_after is not None and self.failures >= self.open_after

    def summary(self) -> str:
        """One line: ``open: 3 consecutive failed runs (limit 3)`` / ``closed: 1 of 3`` / ``off``."""
        if not self.enabled:
            return "off"
        if self.open:
            return f"open: {self.failures} consecutive failed runs (opens after {self.open_after})"
        return f"closed: {self.failures} consecutive failed run(s) of {self.open_after} allowed"

    def message(self, pipeline: str, env: str) -> str:
        """Why a run is refused, and how to resume (no secret: errors are masked by the caller's logging)."""
        last = f"; the last failed run was {self.last_failed_run}" if self.last_failed_run else ""
        error = f": {self.last_error.splitlines()[0][:300]}" if self.last_error else ""
        return (
            f"circuit breaker open for dataset {self.dataset!r}: its last {self.failures} runs failed "
            f"(open_after_failures: {self.open_after}){last}{error}. Not run. Fix the cause, then run "
            f"`medallion resume --pipeline {pipeline} --env {env}` (or change the pipeline file) to close it."
        )


def fingerprint(pipeline: PipelineConfig) -> str:
    """A short hash of the validated pipeline configuration: changes when what the pipeline does changes."""
    text = pipeline.model_dump_json(by_alias=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def breaker_states(
    spark: SparkSession, env: EnvConfig, pipelines: Sequence[PipelineConfig]
) -> dict[str, BreakerState]:
    """Each pipeline's breaker state from the run log (one small aggregation; none when the breaker is off).

    Args:
        spark: the session.
        env: the environment (its ``circuit_breaker`` setting and run log).
        pipelines: the datasets to look at.

    Returns:
        ``{dataset: BreakerState}``; every state is closed with 0 failures when the breaker is off.
    """
    config = env.circuit_breaker
    if config is None:
        return {p.dataset: BreakerState(p.dataset) for p in pipelines}
    limit = config.open_after_failures
    states = {p.dataset: BreakerState(p.dataset, 0, limit) for p in pipelines}
    runs = _runs(spark, env.run_log_path, [p.dataset for p in pipelines])
    for p in pipelines:
        states[p.dataset] = _count(p.dataset, fingerprint(p), runs.get(p.dataset, []), limit)
    return states


def _runs(spark: SparkSession, path: str, datasets: list[str]) -> dict[str, list[dict[str, object]]]:
    """Per dataset, its runs newest first: run id, failed?, resumed?, only blocked?, fingerprint, error."""
    from pyspark.sql import functions as F

    from medallion.audit.outcome import Status
    from medallion.audit.run_log import RUN_LOG_COLUMNS as RUN
    from medallion.audit.run_log import read_run_log

    df = read_run_log(spark, path)
    if df is None:
        return {}
    if RUN.fingerprint not in df.columns:  # a run log from before the breaker: no failure counts
        df = df.withColumn(RUN.fingerprint, F.lit(None).cast("string"))
    status, layer = F.col(RUN.status), F.col(RUN.layer)
    failed = status == F.lit(str(Status.FAILED))
    rows = (
        df.where(F.col(RUN.pipeline).isin(datasets) & layer.isin([*_RUN_LAYERS, RESUME_LAYER]))
        .groupBy(RUN.pipeline, RUN.run_id)
        .agg(
            F.min(RUN.started_at).alias("start"),
            F.max(failed).alias("failed"),
            F.max(layer == F.lit(RESUME_LAYER)).alias("resumed"),
            F.min(status == F.lit(str(Status.BLOCKED))).alias("only_blocked"),
            F.max(RUN.fingerprint).alias("fingerprint"),
            F.max(F.when(failed, F.col(RUN.error))).alias("error"),
        )
        .orderBy(F.col("start").desc(), F.col(RUN.run_id).desc())
        .collect()
    )
    out: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        out.setdefault(r[RUN.pipeline], []).append(r.asDict())
    return out


def _count(dataset: str, current: str, runs: Sequence[Mapping[str, object]], limit: int) -> BreakerState:
    failures, last_run, last_error = 0, None, None
    for run in runs:  # newest first
        if run["resumed"]:
            break
        if run["only_blocked"] and not run["failed"]:
            continue
        if run["fingerprint"] != current or not run["failed"]:
            break
        failures += 1
        if last_run is None:
            last_run, last_error = str(run["run_id"]), run["error"]
    return BreakerState(dataset, failures, limit, last_run, None if last_error is None else str(last_error))


def resume(spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig) -> BreakerState:
    """Close the dataset's breaker: append a ``resume`` record to the run log. Returns the state it closed."""
    from medallion.audit.outcome import LayerOutcome, RunContext, Status
    from medallion.audit.run_log import RunRecord, write_run_log
    from medallion.clock import new_run_id, utc_now

    state = breaker_states(spark, env, [pipeline])[pipeline.dataset]
    now = utc_now()
    outcome = LayerOutcome(
        status=Status.SUCCEEDED,
        details={"failures": state.failures, "was_open": state.open, "by": _user()},
    )
    record = RunRecord.of(
        outcome, context=RunContext(new_run_id(now), now), pipeline=pipeline.dataset, environment=env.name,
        layer=RESUME_LAYER, table="circuit_breaker", ended_at=now, fingerprint=fingerprint(pipeline),
    )
    write_run_log(spark, env.run_log_path, [record])
    log.info("%s: circuit breaker resumed (%s)", pipeline.dataset, state.summary())
    return state


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in a container: still resume
        return "unknown"
