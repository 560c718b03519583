"""Configuration: the environment file and the pipeline files, their models, SQL validation and JSON Schemas.

* :mod:`~medallion.config.model`: the environment and pipeline files as frozen pydantic models;
* :mod:`~medallion.config.loading`: safe YAML, ``${VAR}`` expansion and validation into those models
  (re-exported here: ``from medallion.config import load_pipeline``);
* :mod:`~medallion.config.base`: the base model and the field types every model shares;
* :mod:`~medallion.config.gold`: a pipeline's ``gold:`` entries and ``checks:`` lists;
* :mod:`~medallion.config.validation`: every SQL text of a pipeline parsed by Spark before any write;
* :mod:`~medallion.config.schemas`: the JSON Schemas of both files, generated from the models.
"""
from __future__ import annotations

from medallion.config.loading import load_env, load_pipeline, load_yaml
from medallion.config.model import (
    LAYERS,
    BronzeConfig,
    EnvConfig,
    Expectation,
    LayerName,
    MaintenanceConfig,
    PipelineConfig,
    SilverConfig,
    SourceConfig,
    is_uri,
    join_path,
)

__all__ = [
    "EnvConfig",
    "MaintenanceConfig",
    "PipelineConfig",
    "SourceConfig",
    "BronzeConfig",
    "SilverConfig",
    "Expectation",
    "LayerName",
    "LAYERS",
    "load_env",
    "load_pipeline",
    "load_yaml",
    "is_uri",
    "join_path",
]
