"""Our OpenLineage event schema (tests/openlineage_event.schema.json): it accepts what medallion and the
openlineage-python client build, requires at least what the client's generated classes require, and
rejects each kind of spec violation (no Spark: events are built from run records)."""
from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attr
import pytest
from jsonschema import Draft202012Validator
from openlineage.client.generated import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    processing_engine_run,
    schema_dataset,
    tags_run,
)
from openlineage.client.serde import Serde
from openlineage_schema import FACET_KEYS, SCHEMA, validate_event

from medallion.audit.outcome import LayerOutcome, Status
from medallion.audit.run_log import RunRecord
from medallion.config import EnvConfig, load_env, load_pipeline
from medallion.observe.lineage import facets
from medallion.observe.lineage.events import end_event, start_event

ROOT = Path(__file__).resolve().parents[1]
DEFS = SCHEMA["$defs"]


def _event(status: Status = Status.FAILED) -> dict[str, Any]:
    env = EnvConfig.model_validate({**load_env(ROOT / "conf/env/dev.yaml").model_dump(), "lineage": {"transport": {"type": "console"}}})
    pipeline = load_pipeline(ROOT / "conf/pipelines/orders.yaml")
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    record = RunRecord("20261126T120000Z-00000000", "orders", "dev", "silver", "orders", status,
                       LayerOutcome(rows_out=7, details={"expectations": {"order_id_present": 2}}), started_at=now,
                       ended_at=now, error="MERGE failed" if status == Status.FAILED else None)
    return json.loads(Serde.to_json(end_event(None, env, pipeline, record)))


def _full_event() -> dict[str, Any]:
    """A FAIL event plus every other facet medallion (or the client, for tags) builds, on run, job and output."""
    event = _event()
    out = event["outputs"][0]
    extra = {
        "schema": facets.schema_facet([("order_id", "string"), ("amount", "decimal(10,2)")]),
        "columnLineage": facets.column_lineage_facet({"amount": [("bronze/orders", "amount")]}),
    }
    out.setdefault("facets", {}).update({k: json.loads(Serde.to_json(v)) for k, v in extra.items()})
    out.setdefault("outputFacets", {})["outputStatistics"] = json.loads(Serde.to_json(facets.statistics_facet(7)))
    event["run"]["facets"]["processing_engine"] = json.loads(Serde.to_json(
        processing_engine_run.ProcessingEngineRunFacet(version="3.5.1", name="spark", producer=facets.PRODUCER)))
    event["run"]["facets"]["tags"] = json.loads(Serde.to_json(tags_run.TagsRunFacet(
        tags=[tags_run.TagsRunFacetFields(key="layer", value="silver", source="MEDALLION")], producer=facets.PRODUCER)))
    return event


def test_the_schema_is_valid_json_schema_and_defines_every_facet_medallion_sends() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert "not copied" in SCHEMA["description"] or "not a copy" in SCHEMA["description"]
    assert {n for n in FACET_KEYS if n != "MedallionRunFacet"} <= set(DEFS)


def test_events_medallion_builds_are_valid() -> None:
    env = EnvConfig.model_validate({**load_env(ROOT / "conf/env/dev.yaml").model_dump(), "lineage": {"transport": {"type": "console"}}})
    pipeline = load_pipeline(ROOT / "conf/pipelines/orders.yaml")
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    record = RunRecord("20261126T120000Z-00000000", "orders", "dev", "silver", "orders", Status.SUCCEEDED,
                       LayerOutcome(), started_at=now)
    start = json.loads(Serde.to_json(start_event(env, pipeline, record, spark_version="3.5.1")))
    full = _full_event()
    assert {k for k, _ in [*full["run"]["facets"].items(), *full["job"]["facets"].items()]} >= {
        "medallion", "errorMessage", "processing_engine", "tags", "jobType"}
    for event in (start, _event(Status.SUCCEEDED), _event(), full):
        assert validate_event(event) == [], event["eventType"]


# (what to break, an error fragment it must produce)
BREAKS: list[tuple[str, Any, str]] = [
    ("drop producer", lambda e: e.pop("producer"), "'producer' is a required"),
    ("drop eventTime", lambda e: e.pop("eventTime"), "'eventTime' is a required"),
    ("schemaURL not a URI", lambda e: e.update(schemaURL="2-0-2 spec"), "does not match"),
    ("producer not a URI", lambda e: e.update(producer="medallion 1.0"), "does not match"),
    ("eventTime not a date-time", lambda e: e.update(eventTime="yesterday"), "not a 'date-time'"),
    ("eventType outside the enum", lambda e: e.update(eventType="DONE"), "is not one of"),
    ("runId not a uuid", lambda e: e["run"].update(runId="20261126T120000Z-00000000"), "not a 'uuid'"),
    ("job without name", lambda e: e["job"].pop("name"), "'name' is a required"),
    ("job without namespace", lambda e: e["job"].pop("namespace"), "'namespace' is a required"),
    ("output without namespace", lambda e: e["outputs"][0].pop("namespace"), "'namespace' is a required"),
    ("input without name", lambda e: e["inputs"][0].pop("name"), "'name' is a required"),
    ("facet without _producer", lambda e: e["job"]["facets"]["jobType"].pop("_producer"), "'_producer' is a required"),
    ("facet _schemaURL not a URI", lambda e: e["run"]["facets"]["tags"].update(_schemaURL="TagsRunFacet.json"),
     "no schema to validate"),
    ("_deleted not boolean", lambda e: e["job"]["facets"]["jobType"].update(_deleted="yes"), "not of type 'boolean'"),
    ("unknown facet", lambda e: e["run"]["facets"].update(
        nominalTime={"_producer": "urn:x", "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet"}),
     "no schema to validate"),
    ("facet under the wrong key", lambda e: e["run"]["facets"].update(engine=e["run"]["facets"].pop("processing_engine")),
     "is sent as 'processing_engine'"),
    ("schema field without name", lambda e: e["outputs"][0]["facets"]["schema"]["fields"][0].pop("name"), "'name' is a required"),
    ("column lineage input without field", lambda e: e["outputs"][0]["facets"]["columnLineage"]["fields"]["amount"]
     ["inputFields"][0].pop("field"), "'field' is a required"),
    ("column lineage without fields", lambda e: e["outputs"][0]["facets"]["columnLineage"].pop("fields"), "'fields' is a required"),
    ("assertion success a string", lambda e: e["outputs"][0]["facets"]["dataQualityAssertions"]["assertions"][0]
     .update(success="no"), "not of type 'boolean'"),
    ("assertion without assertion", lambda e: e["outputs"][0]["facets"]["dataQualityAssertions"]["assertions"][0]
     .pop("assertion"), "'assertion' is a required"),
    ("error without programmingLanguage", lambda e: e["run"]["facets"]["errorMessage"].pop("programmingLanguage"),
     "'programmingLanguage' is a required"),
    ("jobType without integration", lambda e: e["job"]["facets"]["jobType"].pop("integration"), "'integration' is a required"),
    ("engine without version", lambda e: e["run"]["facets"]["processing_engine"].pop("version"), "'version' is a required"),
    ("rowCount a string", lambda e: e["outputs"][0]["outputFacets"]["outputStatistics"].update(rowCount="7"),
     "not of type 'integer'"),
    ("tag without value", lambda e: e["run"]["facets"]["tags"]["tags"][0].pop("value"), "'value' is a required"),
    ("medallion facet without layer", lambda e: e["run"]["facets"]["medallion"].pop("layer"), "'layer' is a required"),
    ("medallion facet unknown layer", lambda e: e["run"]["facets"]["medallion"].update(layer="platinum"), "is not one of"),
    ("medallion facet without _schemaURL", lambda e: e["run"]["facets"]["medallion"].pop("_schemaURL"), "no schema to validate"),
]


@pytest.mark.parametrize(("what", "brk", "fragment"), BREAKS, ids=[b[0] for b in BREAKS])
def test_each_spec_violation_is_reported(what: str, brk: Any, fragment: str) -> None:
    event = copy.deepcopy(_full_event())
    assert event.get("inputs"), "the sample silver run reads bronze"
    brk(event)
    errors = validate_event(event)
    assert any(fragment in e for e in errors), (what, errors)


# generated class -> where its object is defined in our schema
GENERATED = {
    schema_dataset.SchemaDatasetFacet: "SchemaDatasetFacet",
    schema_dataset.SchemaDatasetFacetFields: "schemaField",
    column_lineage_dataset.ColumnLineageDatasetFacet: "ColumnLineageDatasetFacet",
    column_lineage_dataset.InputField: "lineageInputField",
    data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet: "DataQualityAssertionsDatasetFacet",
    error_message_run.ErrorMessageRunFacet: "ErrorMessageRunFacet",
    job_type_job.JobTypeJobFacet: "JobTypeJobFacet",
    processing_engine_run.ProcessingEngineRunFacet: "ProcessingEngineRunFacet",
    output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet: "OutputStatisticsOutputDatasetFacet",
    tags_run.TagsRunFacet: "TagsRunFacet",
}
NESTED = {  # generated class -> (definition, JSON path to the nested object's schema)
    column_lineage_dataset.Fields: ("ColumnLineageDatasetFacet", ["properties", "fields", "additionalProperties"]),
    column_lineage_dataset.Transformation: ("lineageInputField", ["properties", "transformations", "items"]),
    data_quality_assertions_dataset.Assertion: ("DataQualityAssertionsDatasetFacet", ["properties", "assertions", "items"]),
    tags_run.TagsRunFacetFields: ("TagsRunFacet", ["properties", "tags", "items"]),
    job_type_job.EmissionPattern: ("JobTypeJobFacet", ["properties", "emissionPattern"]),
}


def _node(cls: type) -> dict[str, Any]:
    if cls in GENERATED:
        return DEFS[GENERATED[cls]]
    name, path = NESTED[cls]
    node = DEFS[name]
    for key in path:
        node = node[key]
    return node


@pytest.mark.parametrize("cls", [*GENERATED, *NESTED], ids=lambda c: c.__name__)
def test_every_field_the_client_requires_is_required_and_typed(cls: type) -> None:
    """The client's classes are generated from the spec: what they require, our schema requires too."""
    node = _node(cls)
    fields = [f for f in attr.fields(cls) if not f.name.startswith("_")]
    required = {f.name for f in fields if f.default is attr.NOTHING}
    assert required <= set(node.get("required", [])), cls.__name__
    assert {f.name for f in fields} <= set(node["properties"]), cls.__name__
