"""OpenLineage run events of one layer run: START, then COMPLETE or FAIL, built from its run-log record.

The OpenLineage run id is a UUIDv5 of our run id, dataset and layer (deterministic: the same layer
run always has the same OpenLineage run, and START and COMPLETE agree without shared state); our run
id itself is in the ``medallion`` run facet. Jobs are named ``{dataset}.{layer}`` in the env's
lineage namespace (default ``medallion-{env name}``).
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated import base

from medallion.audit.run_log import RunRecord
from medallion.clock import as_utc
from medallion.config import EnvConfig, PipelineConfig
from medallion.observe.lineage import facets as F
from medallion.observe.lineage.datasets import DatasetRef, gold_lineage, layer_datasets, silver_lineage

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["openlineage_run_id", "job_namespace", "start_event", "end_event"]

log = logging.getLogger(__name__)

_RUN_NAMESPACE = uuid.UUID("1b0c3a9e-5d2f-5b7e-9a61-6d65646c6c6e")  # fixed: ids stay stable across releases


def openlineage_run_id(run_id: str, pipeline: str, layer: str) -> str:
    """The UUID OpenLineage knows this layer run by: UUIDv5 of ``run_id/pipeline/layer``."""
    return str(uuid.uuid5(_RUN_NAMESPACE, f"{run_id}/{pipeline}/{layer}"))


def job_namespace(env: EnvConfig) -> str:
    assert env.lineage is not None
    return env.lineage.namespace or f"medallion-{env.name}"


def _time(ts: datetime) -> str:
    return as_utc(ts).isoformat()


def start_event(env: EnvConfig, pipeline: PipelineConfig, record: RunRecord, *, spark_version: str | None) -> RunEvent:
    """START: the run, its job, and the datasets it will read and write (no dataset facets yet)."""
    inputs, outputs = layer_datasets(env, pipeline, record.layer)
    return RunEvent(
        eventType=RunState.START,
        eventTime=_time(record.started_at or record.ended_at),  # type: ignore[arg-type]
        run=Run(runId=openlineage_run_id(record.run_id, record.pipeline, record.layer),
                facets=F.run_facets(record, spark_version=spark_version, final=False)),
        job=Job(namespace=job_namespace(env), name=f"{pipeline.dataset}.{record.layer}", facets=F.job_facets(record.layer)),
        inputs=[InputDataset(namespace=d.namespace, name=d.name) for d in inputs],
        outputs=[OutputDataset(namespace=d.namespace, name=d.name) for d in outputs],
        producer=F.PRODUCER,
    )


def end_event(spark: SparkSession | None, env: EnvConfig, pipeline: PipelineConfig, record: RunRecord) -> RunEvent:
    """COMPLETE (succeeded or skipped) or FAIL, with schema, column lineage, statistics and quality facets."""
    inputs, outputs = layer_datasets(env, pipeline, record.layer)
    schemas = {d.path: _schema(spark, d.path) for d in [*inputs, *outputs] if d.key is not None}
    lineage = _column_lineage(pipeline, record.layer, inputs, schemas)
    failed = record.error is not None
    return RunEvent(
        eventType=RunState.FAIL if failed else RunState.COMPLETE,
        eventTime=_time(record.ended_at or record.started_at),  # type: ignore[arg-type]
        run=Run(runId=openlineage_run_id(record.run_id, record.pipeline, record.layer),
                facets=F.run_facets(record, spark_version=spark.version if spark is not None else None, final=True)),
        job=Job(namespace=job_namespace(env), name=f"{pipeline.dataset}.{record.layer}", facets=F.job_facets(record.layer)),
        inputs=[InputDataset(namespace=d.namespace, name=d.name, facets=_dataset_facets(schemas.get(d.path), None, []))
                for d in inputs],
        outputs=[_output(pipeline, record, d, schemas.get(d.path), lineage.get(d.key or "")) for d in outputs],
        producer=F.PRODUCER,
    )


def _output(pipeline: PipelineConfig, record: RunRecord, d: DatasetRef, schema: list[tuple[str, str]] | None,
            lineage: dict[str, list[tuple[str, str]]] | None) -> OutputDataset:
    table = (d.key or "").split("/", 1)[-1]
    checks = F.assertions(pipeline, record.layer, table, record.details)
    rows = F.output_statistics(record.layer, table, pipeline, record)
    output_facets: dict[str, base.OutputDatasetFacet] = {}
    if rows is not None and record.error is None:
        output_facets["outputStatistics"] = F.statistics_facet(int(rows))
    return OutputDataset(namespace=d.namespace, name=d.name, facets=_dataset_facets(schema, lineage, checks),
                         outputFacets=output_facets)


def _dataset_facets(schema: list[tuple[str, str]] | None, lineage: dict[str, Any] | None, checks: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if schema:
        out["schema"] = F.schema_facet(schema)
    if lineage:
        out["columnLineage"] = F.column_lineage_facet(lineage)
    if checks:
        out["dataQualityAssertions"] = F.assertions_facet(checks)
    return out


def _column_lineage(pipeline: PipelineConfig, layer: str, inputs: list[DatasetRef],
                    schemas: dict[str, list[tuple[str, str]] | None]) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """``{"layer/table": {column: [(input path, column)]}}`` for silver's table and declarative gold tables."""
    if pipeline.silver is None or not inputs:
        return {}
    if layer == "silver":
        bronze = inputs[0]
        if not schemas.get(bronze.path):
            return {}
        return {f"silver/{pipeline.silver.table}": _known(silver_lineage(pipeline, bronze.path, [c for c, _ in schemas[bronze.path] or []]))}
    if layer == "gold":
        silver = next(d for d in inputs if d.key == f"silver/{pipeline.silver.table}") if any(
            d.key == f"silver/{pipeline.silver.table}" for d in inputs) else None
        if silver is None or not schemas.get(silver.path):
            return {}
        columns = [c for c, _ in schemas[silver.path] or []]
        return {f"gold/{g.table}": _known(gold_lineage(g, silver.path, columns)) for g in pipeline.gold if g.sql is None}
    return {}


def _known(lineage: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
    """Columns computed from no input column (``count(*)``, literals) have no column lineage."""
    return {column: sources for column, sources in lineage.items() if sources}


def _schema(spark: SparkSession | None, path: str) -> list[tuple[str, str]] | None:
    """The Delta table's columns and types (its log only, no data), or None where there is no table."""
    if spark is None:
        return None
    try:
        return [(f.name, f.dataType.simpleString()) for f in spark.read.format("delta").load(path).schema.fields]
    except Exception:  # noqa: BLE001 - no table yet (a failed first run): the event goes out without a schema
        log.debug("lineage: no Delta table at %s", path)
        return None
