"""Which Delta table features a pipeline would enable, and which declared consumers cannot read them.

An environment file may list the engines that read its tables besides Spark (``consumers:``). Some Delta
features raise a table's reader protocol beyond what an engine understands: Synapse serverless SQL, for
one, refuses a table with deletion vectors ("Feature 'Deletion Vectors' is not supported"), while
Fabric's SQL analytics endpoint reads it. ``medallion validate`` warns, before any table is written,
when a feature the pipeline (or the environment's Delta defaults) would turn on is unreadable by a
declared consumer. Writer-only features (change data feed, for instance) never stop a reader and are
not listed. See docs/runtimes.md.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Consumer", "CONSUMERS", "FeatureWarning", "features_enabled", "unreadable_features", "warn_unreadable"]

log = logging.getLogger(__name__)

#: The consumers an environment may declare.
Consumer = Literal["synapse_serverless_sql", "synapse_spark", "fabric_sql_endpoint", "fabric_spark"]

# Delta reader features (protocol names) each consumer cannot read. Synapse serverless SQL reads Delta
# reader version 1 tables: no deletion vectors, column mapping, timestamp without time zone or variant.
# Synapse Spark 3.5 (Delta 3.2) reads all of those but VARIANT (a Spark 4 type). Fabric (runtime 2.0:
# Spark 4.1, Delta 4.2) reads deletion vectors and column mapping in Spark and its SQL endpoint.
CONSUMERS: dict[str, frozenset[str]] = {
    "synapse_serverless_sql": frozenset({"deletionVectors", "columnMapping", "timestampNtz", "variantType"}),
    "synapse_spark": frozenset({"variantType"}),
    "fabric_sql_endpoint": frozenset({"variantType"}),
    "fabric_spark": frozenset(),
}

# Session defaults of Delta that turn a reader feature on for every new table.
_DEFAULT_PROPERTIES = {
    "spark.databricks.delta.properties.defaults.enableDeletionVectors": ("deletionVectors", "true"),
    "spark.databricks.delta.properties.defaults.columnMapping.mode": ("columnMapping", None),
}


@dataclass(frozen=True)
class FeatureWarning:
    """One table feature one declared consumer cannot read."""

    consumer: str
    feature: str
    where: str

    def message(self) -> str:
        """The warning as a user reads it."""
        return (f"{self.where} enables the Delta table feature {self.feature!r}, which the declared consumer "
                f"{self.consumer!r} cannot read (docs/runtimes.md)")


def features_enabled(pipeline: Any, spark_settings: Mapping[str, str]) -> dict[str, str]:
    """``{feature: where it comes from}`` for the reader features this pipeline's tables would get.

    Args:
        pipeline: a validated ``PipelineConfig``.
        spark_settings: the environment file's ``spark:`` map (Delta's table defaults live there).
    """
    found: dict[str, str] = {}
    for key, (feature, on) in _DEFAULT_PROPERTIES.items():
        value = str(spark_settings.get(key, "")).strip().lower()
        if value and (value == on if on else value not in ("none", "")):
            found[feature] = f"the environment's spark setting {key}"
    silver = getattr(pipeline, "silver", None)
    if silver is not None and getattr(silver, "deletion_vectors", False):
        found.setdefault("deletionVectors", f"silver.deletion_vectors of {pipeline.dataset}")
    bronze = getattr(pipeline, "bronze", None)
    if bronze is not None and getattr(bronze, "raw_as", None) == "variant":
        found.setdefault("variantType", f"bronze.raw_as: variant of {pipeline.dataset}")
    return found


def unreadable_features(pipelines: Iterable[Any], consumers: Iterable[str],
                        spark_settings: Mapping[str, str]) -> list[FeatureWarning]:
    """Every (consumer, feature) pair where a declared consumer cannot read what a pipeline enables."""
    warnings: list[FeatureWarning] = []
    for pipeline in pipelines:
        for feature, where in features_enabled(pipeline, spark_settings).items():
            warnings.extend(FeatureWarning(consumer, feature, where)
                            for consumer in consumers if feature in CONSUMERS[consumer])
    return list(dict.fromkeys(warnings))


def warn_unreadable(pipelines: Iterable[Any], consumers: Iterable[str],
                    spark_settings: Mapping[str, str]) -> list[str]:
    """Log each unreadable feature as a warning; the messages, for the command's output."""
    messages = [w.message() for w in unreadable_features(pipelines, consumers, spark_settings)]
    for message in messages:
        log.warning("%s", message)
    return messages
