"""medallion: bronze / silver / gold lakehouse jobs on Delta Lake for Azure Synapse and Fabric Spark."""
from __future__ import annotations

from medallion.audit import LayerResult
from medallion.config import EnvConfig, PipelineConfig, load_env, load_pipeline
from medallion.errors import ConfigError, ExpectationFailed, MedallionError, RunError

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "ConfigError",
    "EnvConfig",
    "ExpectationFailed",
    "LayerResult",
    "MedallionError",
    "PipelineConfig",
    "RunError",
    "load_env",
    "load_pipeline",
]
