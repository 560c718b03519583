"""The one place that builds a SparkSession.

On a cluster (Synapse, Fabric, or any ``spark-submit``) the launcher owns the JVM and Delta is
configured by the runtime or by ``--packages``; we reuse that session and only apply the environment
file's runtime settings. Locally, with no JVM yet, we start ``local[*]`` with Delta's jars resolved
from Maven Central by ``configure_spark_with_delta_pip`` (cached under ``~/.ivy2``).
Library code never calls this: it receives the session as a parameter.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pyspark.sql import SparkSession

__all__ = ["get_spark", "session_conf", "LOCAL_DEFAULTS", "DELTA_SETTINGS"]

log = logging.getLogger(__name__)

DELTA_SETTINGS: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

# Settings for a session this package starts itself on one machine. The environment file wins.
LOCAL_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
    "spark.driver.memory": "2g",
}


def _launched_by_spark_submit() -> bool:
    # spark-submit's PythonRunner hands the driver its JVM through this variable.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(settings: Mapping[str, str] | None = None, *, app_name: str = "medallion") -> SparkSession:
    """Return the active session, or start a local one with Delta.

    Args:
        settings: the environment file's ``spark:`` map, applied on top of the local defaults.
        app_name: the Spark application name of a session started here.
    """
    settings = dict(settings or {})
    active = SparkSession.getActiveSession()
    if active is not None or _launched_by_spark_submit():
        spark = active or SparkSession.builder.appName(app_name).getOrCreate()
        _apply_runtime_settings(spark, settings)
        return spark

    from delta import configure_spark_with_delta_pip

    conf = {**LOCAL_DEFAULTS, **DELTA_SETTINGS, **settings}
    builder = SparkSession.builder.appName(app_name).master(conf.pop("spark.master", "local[*]"))
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = configure_spark_with_delta_pip(builder).getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("MEDALLION_SPARK_LOG_LEVEL", "WARN"))
    log.info("started local Spark %s with Delta", spark.version)
    return spark


def _apply_runtime_settings(spark: SparkSession, settings: Mapping[str, str]) -> None:
    for key, value in settings.items():
        try:
            spark.conf.set(key, value)
        except Exception as err:  # static configs cannot change on a running session
            log.warning("spark setting %s not applied to the running session: %s", key, type(err).__name__)


@contextmanager
def session_conf(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """Set session confs for the duration of a block, restoring the previous values after."""
    previous = {key: spark.conf.get(key, None) for key in settings}
    try:
        for key, value in settings.items():
            spark.conf.set(key, value)
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
