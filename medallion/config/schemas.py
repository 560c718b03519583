"""JSON Schemas of the environment and pipeline files, generated from the pydantic models.

Editors (VS Code's YAML extension) validate the YAML files against them through the
``# yaml-language-server: $schema=...`` line at the top of each file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medallion.config import EnvConfig, PipelineConfig

__all__ = ["json_schemas", "write_schemas"]


def json_schemas() -> dict[str, dict[str, Any]]:
    """``{file name: schema}`` for both configuration files."""
    return {
        "env.schema.json": EnvConfig.model_json_schema(by_alias=True),
        "pipeline.schema.json": PipelineConfig.model_json_schema(by_alias=True),
    }


def write_schemas(out: Path) -> list[Path]:
    """Write both schemas under ``out`` and return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = out / name
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
