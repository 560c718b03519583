"""Defence in depth for every session medallion uses: settings the environment file cannot undo.

Applied by :func:`medallion.session.get_spark` AFTER the environment file's ``spark:`` map, so an env file
that sets them otherwise is overridden (with a warning):

- ``spark.sql.runSQLOnFiles=false``: ``parquet.`/path``` and friends are not relations at all;
- ``spark.sql.variable.substitute=false``: ``${env:X}`` / ``${spark.x}`` in SQL stay literal text;
- ``spark.redaction.string.regex``: credential-shaped strings are redacted where Spark applies it
  (plan strings, SQL text in the UI and event logs);
- Spark's own log lines that carry row values of a failed task (``Executor`` / ``TaskSetManager``
  exceptions, e.g. a ``raise_error`` message) are silenced: the failure reaches us masked, through our logs.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

from pyspark.sql import SparkSession

__all__ = ["FORCED", "REDACTION_REGEX", "harden"]

log = logging.getLogger(__name__)

#: Credential-shaped strings for Spark's own redaction (Java regex).
REDACTION_REGEX = (
    r"(?i)(AccountKey=[^;\s]+|SharedAccessSignature=[^;\s]+|[?&]sig=[^&\s]+|bearer\s+[A-Za-z0-9._~+/=-]+"
    r"|client_secret[=:][^&\s]+)"
)

FORCED: dict[str, str] = {
    "spark.sql.runSQLOnFiles": "false",
    "spark.sql.variable.substitute": "false",
    "spark.sql.redaction.string.regex": REDACTION_REGEX,
}
#: Loggers whose lines quote the data of a failed task.
_ROW_LOGGERS = ("org.apache.spark.executor.Executor", "org.apache.spark.scheduler.TaskSetManager",
                "org.apache.spark.scheduler.TaskResultGetter")


def harden(spark: SparkSession, settings: Mapping[str, str] | None = None) -> SparkSession:
    """Force :data:`FORCED` on ``spark`` (whatever ``settings`` asked) and quiet the row-quoting loggers."""
    for key, value in FORCED.items():
        asked = (settings or {}).get(key)
        if asked is not None and asked.strip().lower() != value:
            log.warning("spark setting %s=%s from the environment file is overridden: medallion's sandbox needs %s",
                        key, "<redacted>" if "regex" in key else asked, value)
        spark.conf.set(key, value)
    try:
        jvm = spark.sparkContext._jvm
        level = jvm.org.apache.logging.log4j.Level.OFF
        for name in _ROW_LOGGERS:
            jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, level)
    except Exception as err:  # another logging backend: our own sinks still mask
        log.debug("cannot quiet Spark's task loggers: %s", type(err).__name__)
    return spark
