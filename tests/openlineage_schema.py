"""Validate OpenLineage events against the spec's JSON Schemas (vendored in tests/openlineage_spec/).

:func:`validate_event` checks the event against the core schema's ``RunEvent`` and every facet medallion
sends against its own facet schema (found by the facet's key), with formats (uuid, date-time) checked.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

HERE = Path(__file__).parent / "openlineage_spec"
MEDALLION_FACET = Path(__file__).resolve().parents[1] / "medallion" / "lineage" / "MedallionRunFacet.json"
CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
#: the facet schemas vendored (a facet is validated by the file and definition its ``_schemaURL`` names)
FACET_FILES = sorted(p.name for p in (HERE / "facets").glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _registry() -> tuple[Registry, dict[str, dict[str, Any]]]:
    core = _load(HERE / "OpenLineage.json")
    resources = [(CORE_ID, Resource.from_contents(core))]
    # facet schemas point at older core versions; their BaseFacet/*Facet definitions are the same shape
    resources += [(f"https://openlineage.io/spec/{v}/OpenLineage.json", Resource.from_contents(core))
                  for v in ("1-0-1", "1-0-2", "1-0-3", "1-0-5")]
    facets = {name: _load(HERE / "facets" / name) for name in FACET_FILES}
    facets[MEDALLION_FACET.name] = _load(MEDALLION_FACET)
    resources += [(s["$id"], Resource.from_contents(s)) for s in facets.values()]
    return Registry().with_resources(resources), facets


REGISTRY, FACETS = _registry()
RUN_EVENT = Draft202012Validator({"$ref": f"{CORE_ID}#/$defs/RunEvent"}, registry=REGISTRY, format_checker=FormatChecker())


def _facets(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = list((event["run"].get("facets") or {}).items()) + list((event["job"].get("facets") or {}).items())
    for d in [*event.get("inputs", []), *event.get("outputs", [])]:
        for group in ("facets", "inputFacets", "outputFacets"):
            found += list((d.get(group) or {}).items())
    return found


def validate_event(event: dict[str, Any]) -> list[str]:
    """Every violation of the spec in ``event`` (empty: valid); a facet without a vendored schema is an error."""
    errors = [f"event: {e.message} at {list(e.absolute_path)}" for e in RUN_EVENT.iter_errors(event)]
    for key, facet in _facets(event):
        url = str(facet.get("_schemaURL", ""))
        file, _, definition = url.partition("#")
        schema = FACETS.get(file.rsplit("/", 1)[-1].rsplit(":", 1)[-1])
        if schema is None or not definition:
            errors.append(f"facet {key!r}: no schema to validate it against ({url})")
            continue
        validator = Draft202012Validator({"$ref": schema["$id"] + "#" + definition}, registry=REGISTRY,
                                         format_checker=FormatChecker())
        errors += [f"facet {key}: {e.message} at {list(e.absolute_path)}" for e in validator.iter_errors(facet)]
    return errors
