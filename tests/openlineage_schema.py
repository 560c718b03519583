"""Validate OpenLineage events against our own JSON Schema of the spec (tests/openlineage_event.schema.json).

The schema is written by this project from the OpenLineage 2-0-2 documentation (openlineage.io/docs/spec);
no OpenLineage schema file is copied here. :func:`validate_event` checks the event against its ``RunEvent``
definition and every facet medallion sends against the definition named by the facet's ``_schemaURL``
(the standard facets' file names, e.g. ``SchemaDatasetFacet.json``, and medallion's own
``MedallionRunFacet.json``), with formats (uuid, date-time) checked.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMA_FILE = Path(__file__).parent / "openlineage_event.schema.json"
MEDALLION_FACET = Path(__file__).resolve().parents[1] / "medallion" / "observe" / "lineage" / "MedallionRunFacet.json"
#: the spec core document medallion's facet schema refers to (for its RunFacet); resolved to our schema
SPEC_CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
#: the standard facet key each facet definition is sent under
FACET_KEYS = {
    "SchemaDatasetFacet": "schema",
    "ColumnLineageDatasetFacet": "columnLineage",
    "DataQualityAssertionsDatasetFacet": "dataQualityAssertions",
    "ErrorMessageRunFacet": "errorMessage",
    "JobTypeJobFacet": "jobType",
    "ProcessingEngineRunFacet": "processing_engine",
    "OutputStatisticsOutputDatasetFacet": "outputStatistics",
    "TagsRunFacet": "tags",
    "MedallionRunFacet": "medallion",
}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


SCHEMA = _load(SCHEMA_FILE)
MEDALLION_SCHEMA = _load(MEDALLION_FACET)
_ALIAS = {"$schema": SCHEMA["$schema"], "$defs": {"RunFacet": {"$ref": SCHEMA["$id"] + "#/$defs/RunFacet"}}}
REGISTRY = Registry().with_resources([
    (SCHEMA["$id"], Resource.from_contents(SCHEMA)),
    (MEDALLION_SCHEMA["$id"], Resource.from_contents(MEDALLION_SCHEMA)),
    (SPEC_CORE_ID, Resource.from_contents(_ALIAS)),
])
RUN_EVENT = Draft202012Validator(SCHEMA, registry=REGISTRY, format_checker=FormatChecker())
#: facet definition name -> the id of the document holding it
FACET_DOCS = {**{name: SCHEMA["$id"] for name in FACET_KEYS if name in SCHEMA["$defs"]},
              "MedallionRunFacet": MEDALLION_SCHEMA["$id"]}


def _facets(event: dict[str, Any]) -> list[tuple[str, Any]]:
    run, job = event.get("run") or {}, event.get("job") or {}
    found = list((run.get("facets") or {}).items()) + list((job.get("facets") or {}).items())
    for d in [*(event.get("inputs") or []), *(event.get("outputs") or [])]:
        for group in ("facets", "inputFacets", "outputFacets"):
            found += list((d.get(group) or {}).items())
    return found


def _definition(url: str) -> str | None:
    """The facet definition ``url`` names (``.../SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet``), if ours."""
    file, _, fragment = url.partition("#")
    name = file.rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".json")
    return name if name in FACET_DOCS and fragment == f"/$defs/{name}" else None


def validate_event(event: dict[str, Any]) -> list[str]:
    """Every violation of the spec in ``event`` (empty: valid); a facet we have no definition for is an error."""
    errors = [f"event: {e.message} at {list(e.absolute_path)}" for e in RUN_EVENT.iter_errors(event)]
    for key, facet in _facets(event):
        url = str(facet.get("_schemaURL", "")) if isinstance(facet, dict) else ""
        name = _definition(url)
        if name is None:
            errors.append(f"facet {key!r}: no schema to validate it against ({url})")
            continue
        if FACET_KEYS[name] != key:
            errors.append(f"facet {key!r}: a {name} is sent as {FACET_KEYS[name]!r}, not {key!r}")
        validator = Draft202012Validator({"$ref": f"{FACET_DOCS[name]}#/$defs/{name}"}, registry=REGISTRY,
                                         format_checker=FormatChecker())
        errors += [f"facet {key}: {e.message} at {list(e.absolute_path)}" for e in validator.iter_errors(facet)]
    return errors
