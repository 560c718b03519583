"""Run a pipeline's layers in order, log each to the run log, stop at the first failure.

One :class:`RunReport` per run: every layer record shares its run id. The runner alone builds run-log
records: a layer returns a :class:`~medallion.outcome.LayerOutcome` (or raises, carrying a partial one).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyspark.sql import SparkSession

from medallion.clock import new_run_id, utc_now
from medallion.config import EnvConfig, PipelineConfig
from medallion.errors import MedallionError
from medallion.layers import REGISTRY, layers_for
from medallion.outcome import LayerOutcome, RunContext, Status
from medallion.run_log import RunRecord, write_run_log

__all__ = ["RunReport", "run_pipeline", "layers_for"]

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    """The outcome of one run: one run-log record per layer that ran."""

    run_id: str
    pipeline: str
    environment: str
    results: list[RunRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.status != Status.FAILED for r in self.results)

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
        cols = ("layer", "status", "in", "out", "corrupt", "quarantined", "superseded", "files new/seen", "secs", "tables")
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
                    files,
                    f"{r.duration_seconds:.1f}" if r.duration_seconds is not None else "-",
                    ", ".join(r.details.get("tables_written", [f"{r.layer}/{r.table}"])),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(cols))]
        lines = [header] + ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
        lines += [f"  {r.layer} failed: {r.error}" for r in self.results if r.error]
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
    """Run ``layers`` in order; each layer's record is appended to the run log as soon as it ends.

    A failed layer is logged with its error and partial counts, and the layers after it do not run.
    """
    report = RunReport(run_id or new_run_id(clock()), pipeline.dataset, env.name)
    for name in layers:
        layer = REGISTRY[name]
        context = RunContext(report.run_id, clock())
        log.info("%s: starting (run %s)", name, report.run_id)
        error: str | None = None
        try:
            outcome = layer.run(spark, env, pipeline, context)
        except MedallionError as err:
            outcome, error = err.partial or LayerOutcome(), str(err)
            log.error("%s failed: %s", name, err)
        except Exception as err:  # Spark/Delta/IO errors: record them, then stop
            outcome, error = LayerOutcome(), f"{type(err).__name__}: {_short(err)}"
            log.exception("%s failed", name)
        else:
            log.info("%s %s: in=%d out=%d", name, outcome.status, outcome.rows_in, outcome.rows_out)
        record = RunRecord.of(
            outcome, context=context, pipeline=pipeline.dataset, environment=env.name, layer=name,
            table=layer.label(pipeline), ended_at=clock(), error=error, tables_written=layer.tables(pipeline),
        )
        report.results.append(record)
        write_run_log(spark, env.audit_path, [record])
        if record.status == Status.FAILED:
            break
    return report


def _short(err: Exception, limit: int = 2000) -> str:
    text = str(err)
    return text if len(text) <= limit else text[:limit] + " …"
