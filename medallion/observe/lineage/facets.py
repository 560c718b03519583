"""The facets medallion puts on its OpenLineage events, built from a layer run's record.

Standard facets (openlineage-python's classes): ``schema`` and ``columnLineage`` on datasets,
``outputStatistics`` on outputs, ``dataQualityAssertions`` (expectations and declared checks),
``processing_engine``, ``errorMessage`` (masked) and ``jobType``. One custom run facet,
``medallion``, carries our run id, the layer, status and counts: :class:`MedallionRunFacet`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attr
from openlineage.client.generated import (
    base,
    column_lineage_dataset,
    data_quality_assertions_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    processing_engine_run,
    schema_dataset,
)

from medallion import __version__
from medallion.audit.outcome import COUNT_FIELDS
from medallion.audit.run_log import RunRecord
from medallion.config import PipelineConfig
from medallion.logs import mask_secrets
from medallion.observe.lineage.datasets import dataset_id

__all__ = ["PRODUCER", "MEDALLION_FACET_SCHEMA", "MedallionRunFacet", "run_facets", "job_facets", "schema_facet",
           "column_lineage_facet", "assertions", "assertions_facet", "output_statistics", "statistics_facet"]

#: ``producer`` of every event and facet: this package and its version.
PRODUCER = f"urn:medallion:{__version__}"
#: The JSON Schema of the custom run facet (shipped as medallion/observe/lineage/MedallionRunFacet.json).
MEDALLION_FACET_SCHEMA = "urn:medallion:facets:1-0-0:MedallionRunFacet.json#/$defs/MedallionRunFacet"


@attr.define
class MedallionRunFacet(base.RunFacet):
    """Our run id (the run log's ``run_id``), the dataset, layer, environment, status and counts."""

    runId: str  # noqa: N815 - the facet's field names are camelCase like the spec's
    pipeline: str
    layer: str
    environment: str
    status: str | None = None
    counts: dict[str, int] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return MEDALLION_FACET_SCHEMA


def run_facets(record: RunRecord, *, spark_version: str | None, final: bool) -> dict[str, base.RunFacet]:
    """The run's facets: ``medallion``, ``processing_engine`` and, for a failed run, ``errorMessage``."""
    counts = {f.name: getattr(record.outcome, f.name) for f in COUNT_FIELDS if getattr(record.outcome, f.name) is not None}
    facets: dict[str, base.RunFacet] = {
        "medallion": MedallionRunFacet(
            runId=record.run_id, pipeline=record.pipeline, layer=record.layer, environment=record.environment,
            status=str(record.status) if final else None, counts=counts if final else {}, producer=PRODUCER,
        ),
    }
    if spark_version:
        facets["processing_engine"] = processing_engine_run.ProcessingEngineRunFacet(
            version=spark_version, name="spark", openlineageAdapterVersion=__version__, producer=PRODUCER)
    if final and record.error:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=mask_secrets(record.error), programmingLanguage="python", producer=PRODUCER)
    return facets


def job_facets(layer: str) -> dict[str, base.JobFacet]:
    return {"jobType": job_type_job.JobTypeJobFacet(
        processingType="BATCH", integration="MEDALLION", jobType=layer.upper(), producer=PRODUCER)}


def schema_facet(fields: list[tuple[str, str]]) -> schema_dataset.SchemaDatasetFacet:
    """``schema`` from ``[(column, Spark SQL type)]``."""
    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in fields], producer=PRODUCER)


def column_lineage_facet(columns: Mapping[str, list[tuple[str, str]]]) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    """``columnLineage`` from ``{output column: [(input path, input column)]}``."""
    fields = {}
    for out, sources in columns.items():
        inputs = []
        for path, col in sources:
            namespace, name = dataset_id(path)
            inputs.append(column_lineage_dataset.InputField(namespace=namespace, name=name, field=col))
        fields[out] = column_lineage_dataset.Fields(inputFields=inputs)
    return column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields, producer=PRODUCER)


def _assertion(name: str, kind: str, passed: bool, action: str, **more: Any) -> data_quality_assertions_dataset.Assertion:
    return data_quality_assertions_dataset.Assertion(
        assertion=kind, success=bool(passed), name=name, severity="error" if action == "fail" else "warn",
        **{k: None if v is None else str(v) for k, v in more.items()})


def assertions(pipeline: PipelineConfig, layer: str, table: str, details: Mapping[str, Any]) -> list[data_quality_assertions_dataset.Assertion]:
    """Expectation results (silver: rows failing each rule) and declared check results of one table."""
    out = []
    if layer == "silver" and pipeline.silver is not None and table == pipeline.silver.table:
        failing = details.get("expectations") or {}
        for e in pipeline.silver.expectations:
            if e.name in failing:
                out.append(_assertion(e.name, "expectation", failing[e.name] == 0, e.action, expected="0",
                                      actual=failing[e.name], description=f"{e.expr} (action {e.action})"))
        declared = {c.name: c for c in pipeline.silver.checks}
        for name, result in (details.get("checks") or {}).items():
            check = declared.get(name)
            if check is not None:
                out.append(_assertion(name, check.kind, result["passed"], result["action"], expected=result["threshold"],
                                      actual=result["observed"], column=_column(check)))
    if layer == "gold":
        gold = next((g for g in pipeline.gold if g.table == table), None)
        results = ((details.get("tables") or {}).get(table) or {}).get("checks") or {}
        for check in gold.checks if gold is not None else []:
            if check.name in results:
                out.append(_assertion(check.name, check.kind, results[check.name], check.action, column=_column(check)))
    return out


def _column(check: Any) -> str | None:
    named = [*(check.unique or []), *(check.not_null or [])]
    if check.freshness is not None:
        named.append(check.freshness.column)
    return named[0] if len(named) == 1 else None


def statistics_facet(rows: int) -> output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet:
    return output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=rows, producer=PRODUCER)


def assertions_facet(found: list[data_quality_assertions_dataset.Assertion]) -> base.DatasetFacet:
    """``dataQualityAssertions`` (the spec types it an input facet; we attach it to the table it judged)."""
    return data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(assertions=found, producer=PRODUCER)


def output_statistics(layer: str, table: str, pipeline: PipelineConfig, record: RunRecord) -> int | None:
    """Rows this run wrote to ``table``, where the run log knows it."""
    o = record.outcome
    if layer == "bronze":
        return o.rows_out
    if layer == "silver" and pipeline.silver is not None:
        if table == pipeline.silver.table:
            return o.rows_out
        if table == pipeline.silver.dlq:
            return o.rows_quarantined
    if layer == "gold":
        metrics = (o.details.get("tables") or {}).get(table) or {}
        return metrics.get("rows_out")
    return None
