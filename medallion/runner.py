"""Run a pipeline's layers in order, log each to the run log, stop at the first failure.

One :class:`RunReport` per run: every layer record shares its run id.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pyspark.sql import SparkSession

from medallion.audit import LayerResult, new_run_id, utc_now, write_run_log
from medallion.config import LAYERS, EnvConfig, PipelineConfig
from medallion.errors import MedallionError

__all__ = ["RunReport", "run_pipeline", "layers_for", "LAYER_COUNTS"]

log = logging.getLogger(__name__)

# Per layer, the counts shown by the summary and --output json, beyond status / rows_in / rows_out.
LAYER_COUNTS: dict[str, tuple[str, ...]] = {
    "bronze": ("rows_corrupt", "files_ingested", "files_skipped"),
    "silver": ("rows_quarantined", "rows_superseded", "rows_warned"),
    "gold": (),
}


class LayerFn(Protocol):
    def __call__(
        self, spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, result: LayerResult, *, now: datetime
    ) -> LayerResult: ...


def _layer_fn(layer: str) -> LayerFn:
    # Imported lazily: a bronze-only run does not need silver's or gold's modules.
    if layer == "bronze":
        from medallion.bronze import run_bronze

        return run_bronze
    if layer == "silver":
        from medallion.silver import run_silver

        return run_silver
    from medallion.gold import run_gold

    return run_gold


def layers_for(pipeline: PipelineConfig, layer: str) -> list[str]:
    """The layers ``--layer`` selects that this pipeline declares (``all`` = bronze, silver, gold)."""
    wanted = list(LAYERS) if layer == "all" else [layer]
    declared = {"bronze": True, "silver": pipeline.silver is not None, "gold": bool(pipeline.gold)}
    return [name for name in wanted if declared[name]]


def _tables_written(pipeline: PipelineConfig, layer: str) -> list[str]:
    """The ``layer/table`` names a layer may write (silver: its table and the dead-letter table)."""
    if layer == "bronze":
        return [f"bronze/{pipeline.bronze.table}"]
    if layer == "silver":
        assert pipeline.silver is not None
        return [f"silver/{pipeline.silver.table}", f"silver/{pipeline.silver.dlq}"]
    return [f"gold/{g.table}" for g in pipeline.gold]


def _table_name(pipeline: PipelineConfig, layer: str) -> str:
    if layer == "bronze":
        return pipeline.bronze.table
    if layer == "silver":
        assert pipeline.silver is not None
        return pipeline.silver.table
    return ",".join(g.table for g in pipeline.gold)


@dataclass
class RunReport:
    """The outcome of one run: one LayerResult per layer that ran."""

    run_id: str
    pipeline: str
    environment: str
    results: list[LayerResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.status != "failed" for r in self.results)

    @property
    def status(self) -> str:
        return "succeeded" if self.ok else "failed"

    def to_json(self) -> dict[str, Any]:
        """The ``--output json`` object: run id, status, and per layer its counts."""
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "environment": self.environment,
            "status": self.status,
        }
        for r in self.results:
            layer: dict[str, Any] = {
                "status": r.status,
                "table": r.table,
                "rows_in": r.rows_in,
                "rows_out": r.rows_out,
            }
            for name in LAYER_COUNTS.get(r.layer, ()):
                layer[name] = getattr(r, name)
            layer.update(
                source_version=r.source_version,
                target_version=r.target_version,
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
            rows.append(
                (
                    r.layer,
                    r.status,
                    str(r.rows_in),
                    str(r.rows_out),
                    str(r.rows_corrupt) if r.layer == "bronze" else "-",
                    str(r.rows_quarantined) if r.layer == "silver" else "-",
                    str(r.rows_superseded) if r.layer == "silver" else "-",
                    f"{r.files_ingested}/{r.files_ingested + r.files_skipped}" if r.layer == "bronze" else "-",
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
    for layer in layers:
        started = clock()
        result = LayerResult(
            run_id=report.run_id,
            pipeline=pipeline.dataset,
            environment=env.name,
            layer=layer,
            table=_table_name(pipeline, layer),
            started_at=started,
            details={"tables_written": _tables_written(pipeline, layer)},
        )
        report.results.append(result)
        log.info("%s: starting (run %s)", layer, report.run_id)
        try:
            _layer_fn(layer)(spark, env, pipeline, result, now=started)
        except MedallionError as err:
            result.finish("failed", now=clock(), error=str(err))
            log.error("%s failed: %s", layer, err)
        except Exception as err:  # Spark/Delta/IO errors: record them, then stop
            result.finish("failed", now=clock(), error=f"{type(err).__name__}: {_short(err)}")
            log.exception("%s failed", layer)
        else:
            result.finish("skipped" if result.status == "skipped" else "succeeded", now=clock())
            log.info("%s %s: in=%d out=%d", layer, result.status, result.rows_in, result.rows_out)
        write_run_log(spark, env.audit_path, [result])
        if result.status == "failed":
            break
    return report


def _short(err: Exception, limit: int = 2000) -> str:
    text = str(err)
    return text if len(text) <= limit else text[:limit] + " …"
