"""The one place that builds a SparkSession.

On a cluster (Synapse, Fabric, or any ``spark-submit``) the launcher owns the JVM and Delta is
configured by the runtime or by ``--packages``; we reuse that session and only apply the environment
file's runtime settings. Locally, with no JVM yet, we start ``local[*]`` with Delta's jars resolved
from Maven Central by ``configure_spark_with_delta_pip`` (cached under ``~/.ivy2``), or taken from
``~/.m2`` (fetched by Maven when Ivy cannot resolve them).
Library code never calls this: it receives the session as a parameter.
"""
from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

from medallion.security.hardening import harden

__all__ = ["get_spark", "session_conf", "maven_delta_jars", "fetch_delta_jars_with_maven", "LOCAL_DEFAULTS", "DELTA_SETTINGS",
           "RUNTIME_DEFAULTS", "delta_artifacts"]

log = logging.getLogger(__name__)

DELTA_SETTINGS: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

# Settings for every session the package runs in, local or on a cluster; the environment file wins.
# Spark 4 turns ANSI mode on by default (a failed cast raises instead of giving null); the pipeline files'
# SQL was written for Spark 3.5's behaviour, and the same input must give the same tables on Spark 3.5 and
# 4.x, so ANSI is set off deliberately on both (README, "Spark 3.5 and Spark 4").
RUNTIME_DEFAULTS: dict[str, str] = {
    "spark.sql.ansi.enabled": "false",
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
        _apply_runtime_settings(spark, {**RUNTIME_DEFAULTS, **settings})
        return harden(spark, settings)

    conf = {**RUNTIME_DEFAULTS, **LOCAL_DEFAULTS, **DELTA_SETTINGS, **settings}
    spark = _start_local(app_name, conf)
    spark.sparkContext.setLogLevel(os.environ.get("MEDALLION_SPARK_LOG_LEVEL", "WARN"))
    log.info("started local Spark %s with Delta", spark.version)
    return harden(spark, settings)


def _builder(app_name: str, conf: Mapping[str, str]) -> SparkSession.Builder:
    conf = dict(conf)
    builder = SparkSession.builder.appName(app_name).master(conf.pop("spark.master", "local[*]"))
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder


def _start_local(app_name: str, conf: Mapping[str, str]) -> SparkSession:
    """Delta's jars from the local Maven repository when they are there, else through Ivy (cached in
    ``~/.ivy2``); if Ivy cannot resolve them, Maven fetches them and the session starts from those files.
    """
    jars = maven_delta_jars()
    if jars:
        return _builder(app_name, {**conf, "spark.jars": ",".join(jars)}).getOrCreate()
    from delta import configure_spark_with_delta_pip

    try:
        return configure_spark_with_delta_pip(_builder(app_name, conf)).getOrCreate()
    except Exception as err:  # the JVM did not start: typically Ivy could not reach its repositories
        log.warning("Ivy could not provide Delta's jars (%s); fetching them with Maven", type(err).__name__)
        jars = fetch_delta_jars_with_maven()
        if not jars:
            raise RuntimeError("cannot get Delta's jars: Ivy failed and Maven (mvn) did not fetch them") from err
        return _builder(app_name, {**conf, "spark.jars": ",".join(jars)}).getOrCreate()


def delta_artifacts() -> list[tuple[str, str, str]]:
    """Maven coordinates of the jars a local Delta session needs, for the installed pyspark and delta-spark.

    Delta 3.x (Spark 3.5) is built for Scala 2.12 and parses with antlr 4.9.3; Delta 4.x (Spark 4) for
    Scala 2.13, and from Delta 4.1 its artifact names the Spark line it was built against
    (``delta-spark_4.1_2.13``), as ``delta.configure_spark_with_delta_pip`` asks Ivy for. Spark 4 ships
    the antlr runtime Delta 4 parses with (4.13.1), so only Delta's own jars are listed then.
    """
    import pyspark

    version = importlib.metadata.version("delta-spark")
    delta_line = tuple(int(part) for part in version.split(".")[:2])
    if delta_line < (4, 0):
        return [
            ("io.delta", "delta-spark_2.12", version),
            ("io.delta", "delta-storage", version),
            ("org.antlr", "antlr4-runtime", "4.9.3"),  # Delta 3.2's parser runtime
        ]
    spark_line = ".".join(pyspark.__version__.split(".")[:2])
    artifact = f"delta-spark_{spark_line}_2.13" if delta_line >= (4, 1) else "delta-spark_2.13"
    # Delta 4.1+ calls the Delta kernel from the Spark connector (its POM's compile dependencies)
    kernel = ["delta-kernel-api", "delta-kernel-defaults", "delta-kernel-unitycatalog"] if delta_line >= (4, 1) else []
    return [("io.delta", artifact, version), ("io.delta", "delta-storage", version),
            *(("io.delta", name, version) for name in kernel)]


def maven_delta_jars(repository: Path | None = None) -> list[str] | None:
    """Paths of Delta's jars in the local Maven repository, or None when any is missing."""
    repo = repository or Path.home() / ".m2" / "repository"
    paths = [repo.joinpath(*group.split("."), artifact, version, f"{artifact}-{version}.jar")
             for group, artifact, version in delta_artifacts()]
    return [str(p) for p in paths] if all(p.is_file() for p in paths) else None


def fetch_delta_jars_with_maven() -> list[str] | None:
    """``mvn dependency:get`` Delta (transitively) into ``~/.m2``; the jar paths, or None."""
    mvn = shutil.which("mvn")
    if mvn is None:
        return None
    group, artifact, version = delta_artifacts()[0]
    subprocess.run(
        [mvn, "-q", "-B", "dependency:get", f"-Dartifact={group}:{artifact}:{version}"],
        check=False, timeout=900, stdout=subprocess.DEVNULL,
    )
    return maven_delta_jars()


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
