"""medallion: bronze / silver / gold lakehouse jobs on Delta Lake for Azure Synapse and Fabric Spark."""
from __future__ import annotations

from medallion.audit.outcome import LayerOutcome, RunContext, Status
from medallion.config import EnvConfig, PipelineConfig, load_env, load_pipeline
from medallion.errors import ConfigError, ExpectationFailed, MedallionError, RunError

__version__ = "0.1.0"  # the one source of the version: setup.py reads it from here

__all__ = [
    "__version__",
    "ConfigError",
    "EnvConfig",
    "ExpectationFailed",
    "LayerOutcome",
    "MedallionError",
    "PipelineConfig",
    "RunContext",
    "RunError",
    "Status",
    "load_env",
    "load_pipeline",
]
