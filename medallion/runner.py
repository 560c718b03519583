"""Run a pipeline's layers in order, log each to the run log, stop at the first failure.

One :class:`RunReport` per run: every layer record shares its run id. The runner alone builds run-log
records: a layer returns a :class:`~medallion.audit.outcome.LayerOutcome` (or raises, carrying a partial one).

A record goes to the run log as soon as its layer ends when the layer may have committed something
(succeeded or failed): the counts that must add up are never left in memory while another layer runs.
Records of layers that committed nothing (skipped: nothing new; blocked) wait for the next append or
the end of the run (:class:`RunLogBuffer`): a no-op run of three layers is one Delta commit, not three.
A process killed in between loses only such records, which carry no rows.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyspark.sql import SparkSession

from medallion import observe
from medallion.audit.accounting import accounting_identity
from medallion.audit.outcome import LayerOutcome, RunContext, Status
from medallion.audit.run_log import RunRecord, write_run_log
from medallion.clock import new_run_id, utc_now
from medallion.config import EnvConfig, PipelineConfig
from medallion.errors import MedallionError, truncated_text
from medallion.layers import REGISTRY, layers_for
from medallion.observe.breaker import fingerprint
from medallion.project import PipelineFile, Project

__all__ = ["RunReport", "ProjectReport", "RunLogBuffer", "run_pipeline", "run_layer", "run_project", "layers_for"]

log = logging.getLogger(__name__)

#: Records that wait for the next append: their layer committed nothing.
_DEFERRABLE = (Status.SKIPPED, Status.BLOCKED)


class RunLogBuffer:
    """Appends run-log records, holding back the ones of layers that committed nothing.

    ``add`` appends a succeeded or failed layer's record at once, together with any held-back ones
    (one Delta commit); skipped and blocked records wait. ``flush`` appends what waits; use the buffer
    as a context manager so that happens at the end of the run, also when a layer raised.
    """

    def __init__(self, spark: SparkSession, path: str) -> None:
        self.spark, self.path = spark, path
        self.pending: list[RunRecord] = []

    def add(self, record: RunRecord) -> None:
        self.pending.append(record)
        if record.status not in _DEFERRABLE:
            self.flush()

    def flush(self) -> None:
        records, self.pending = self.pending, []
        write_run_log(self.spark, self.path, records)

    def __enter__(self) -> RunLogBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


@dataclass
class RunReport:
    """The outcome of one run: one run-log record per layer that ran."""

    run_id: str
    pipeline: str
    environment: str
    results: list[RunRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.status not in (Status.FAILED, Status.BLOCKED) for r in self.results)

    @property
    def status(self) -> str:
        return str(Status.SUCCEEDED if self.ok else Status.FAILED)

    def to_json(self) -> dict[str, Any]:
        """The ``--output json`` object: run id, status, and per layer its counts."""
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "environment": self.environment,
            "status": self.status,
        }
        for r in self.results:
            o = r.outcome
            layer: dict[str, Any] = {"status": str(r.status), "table": r.table, "rows_in": o.rows_in, "rows_out": o.rows_out}
            for name in REGISTRY[r.layer].counts:
                layer[name] = getattr(o, name)
            layer.update(
                source_version=o.source_version,
                target_version=o.target_version,
                duration_seconds=r.duration_seconds,
                error=r.error,
            )
            out[r.layer] = layer
        return out

    def to_text(self) -> str:
        """A summary people can read at a glance."""
        header = f"run {self.run_id}  pipeline {self.pipeline}  env {self.environment}: {self.status.upper()}"
        cols = ("layer", "status", "in", "out", "corrupt", "quarantined", "superseded", "deleted", "files new/seen", "secs",
                "tables")
        rows = [cols]
        for r in self.results:
            o, shown = r.outcome, REGISTRY[r.layer].counts

            def count(name: str, o: LayerOutcome = o, shown: tuple[str, ...] = shown) -> str:
                return str(getattr(o, name)) if name in shown else "-"

            files = f"{o.files_ingested}/{o.files_ingested + o.files_skipped}" if "files_ingested" in shown else "-"
            rows.append(
                (
                    r.layer,
                    str(r.status),
                    str(o.rows_in),
                    str(o.rows_out),
                    count("rows_corrupt"),
                    count("rows_quarantined"),
                    count("rows_superseded"),
                    count("rows_deleted"),
                    files,
                    f"{r.duration_seconds:.1f}" if r.duration_seconds is not None else "-",
                    ", ".join(r.details.get("tables_written", [f"{r.layer}/{r.table}"])),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(cols))]
        lines = [header] + ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
        lines += [f"  {r.layer} failed: {r.error}" for r in self.results if r.error]
        lines += [
            f"  {r.layer} blocked: {', '.join(r.details.get('blocked_by', []))} did not succeed"
            for r in self.results if r.status == Status.BLOCKED
        ]
        return "\n".join(lines)


def run_pipeline(
    spark: SparkSession,
    env: EnvConfig,
    pipeline: PipelineConfig,
    layers: Sequence[str],
    *,
    run_id: str | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> RunReport:
    """Run ``layers`` in order; each layer's record goes to the run log when it ends (skipped ones with
    the next append, see :class:`RunLogBuffer`).

    A failed layer is logged with its error and partial counts, and the layers after it do not run.
    """
    report = RunReport(run_id or new_run_id(clock()), pipeline.dataset, env.name)
    with RunLogBuffer(spark, env.run_log_path) as run_log:
        for name in layers:
            record = run_layer(spark, env, pipeline, name, report.run_id, clock, run_log=run_log)
            report.results.append(record)
            if record.status == Status.FAILED:
                break
    observe.run_ended(spark, env, report.run_id, [pipeline], report.results)
    return report


def run_layer(
    spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, name: str, run_id: str, clock: Callable[[], datetime],
    *, run_log: RunLogBuffer,
) -> RunRecord:
    """Run one layer of ``pipeline`` and log its record to the run's ``run_log`` (failures are recorded,
    not raised)."""
    layer = REGISTRY[name]
    context = RunContext(run_id, clock())
    log.info("%s %s: starting (run %s)", pipeline.dataset, name, run_id)
    observe.layer_started(spark, env, pipeline, name, context)
    error: str | None = None
    try:
        outcome = layer.run(spark, env, pipeline, context)
    except MedallionError as err:
        outcome, error = err.partial or LayerOutcome(), str(err)
        log.error("%s %s failed: %s", pipeline.dataset, name, err)
    except Exception as err:  # Spark/Delta/IO errors: record them, then stop
        outcome, error = LayerOutcome(), f"{type(err).__name__}: {truncated_text(err)}"
        log.exception("%s %s failed", pipeline.dataset, name)
    else:
        log.info("%s %s %s: in=%d out=%d", pipeline.dataset, name, outcome.status, outcome.rows_in, outcome.rows_out)
        identity = accounting_identity(name, outcome.status, vars(outcome))
        if not identity.holds:  # logged beside the record, never raised: the counts are what happened
            log.error("%s %s: accounting identity broken: %s", pipeline.dataset, name, identity.formula)
    record = RunRecord.of(
        outcome, context=context, pipeline=pipeline.dataset, environment=env.name, layer=name,
        table=layer.label(pipeline), ended_at=clock(), error=error, tables_written=layer.tables(pipeline),
        fingerprint=fingerprint(pipeline),
    )
    run_log.add(record)
    observe.layer_ended(spark, env, pipeline, record)
    return record


def blocked_layer(
    spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, name: str, run_id: str,
    clock: Callable[[], datetime], blocked_by: list[str], *, run_log: RunLogBuffer,
) -> RunRecord:
    """Record a layer that did not run because a layer it reads did not succeed (status ``blocked``)."""
    layer = REGISTRY[name]
    now = clock()
    log.warning("%s %s: blocked by %s", pipeline.dataset, name, ", ".join(blocked_by))
    record = RunRecord.of(
        LayerOutcome(status=Status.BLOCKED, details={"blocked_by": blocked_by}), context=RunContext(run_id, now),
        pipeline=pipeline.dataset, environment=env.name, layer=name, table=layer.label(pipeline), ended_at=now,
        tables_written=layer.tables(pipeline), fingerprint=fingerprint(pipeline),
    )
    run_log.add(record)
    return record


@dataclass
class ProjectReport:
    """``medallion run --all``: one :class:`RunReport` per dataset, all under one run id."""

    run_id: str
    environment: str
    reports: list[RunReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports)

    @property
    def status(self) -> str:
        return str(Status.SUCCEEDED if self.ok else Status.FAILED)

    def report(self, pipeline: str) -> RunReport:
        found = next((r for r in self.reports if r.pipeline == pipeline), None)
        if found is None:
            found = RunReport(self.run_id, pipeline, self.environment)
            self.reports.append(found)
        return found

    def to_json(self) -> dict[str, Any]:
        """``{"run_id", "environment", "status", "pipelines": [each dataset's RunReport JSON]}``."""
        return {
            "run_id": self.run_id,
            "environment": self.environment,
            "status": self.status,
            "pipelines": [r.to_json() for r in self.reports],
        }

    def to_text(self) -> str:
        header = f"run {self.run_id}  project ({len(self.reports)} datasets)  env {self.environment}: {self.status.upper()}"
        return "\n\n".join([header, *(r.to_text() for r in self.reports)])


def run_project(
    spark: SparkSession,
    env: EnvConfig,
    project: Project,
    layer: str = "all",
    *,
    run_id: str | None = None,
    clock: Callable[[], datetime] = utc_now,
    refused: Mapping[str, str] | None = None,
) -> ProjectReport:
    """Bronze then silver of every dataset, then every gold layer in dependency order, one run id.

    A layer that fails stops only what reads it: the dataset's later layers, and the gold layers that
    read its tables, are recorded ``blocked``; independent datasets run on. A dataset in ``refused``
    (``{dataset: why}``, its circuit breaker is open: :mod:`medallion.observe.breaker`) is blocked like a failed one.
    """
    report = ProjectReport(run_id or new_run_id(clock()), env.name)
    for p in project.pipelines:  # the summary lists datasets in file order
        report.report(p.dataset)
    failed: set[tuple[str, str]] = set()  # (layer, dataset) that did not succeed

    def run(p: PipelineFile, name: str, needs: set[tuple[str, str]], run_log: RunLogBuffer) -> None:
        blockers = sorted(needs & failed)
        if refused and p.dataset in refused:
            record = blocked_layer(spark, env, p.config, name, report.run_id, clock, [refused[p.dataset]],
                                   run_log=run_log)
        elif blockers:
            record = blocked_layer(spark, env, p.config, name, report.run_id, clock,
                                   [f"{lay} of {d}" for lay, d in blockers], run_log=run_log)
        else:
            record = run_layer(spark, env, p.config, name, report.run_id, clock, run_log=run_log)
        report.report(p.dataset).results.append(record)
        if record.status in (Status.FAILED, Status.BLOCKED):
            failed.add((name, p.dataset))

    with RunLogBuffer(spark, env.run_log_path) as run_log:
        for name in ("bronze", "silver"):
            for p in project.pipelines:
                if name in layers_for(p.config, layer):
                    run(p, name, {("bronze", p.dataset)} if name == "silver" else set(), run_log)
        if layer in ("gold", "all"):
            for p in project.gold_order():
                run(p, "gold", project.needs(p) | {("silver", p.dataset), ("bronze", p.dataset)}, run_log)
    observe.run_ended(spark, env, report.run_id, [p.config for p in project.pipelines],
                      [r for rep in report.reports for r in rep.results])
    return report
