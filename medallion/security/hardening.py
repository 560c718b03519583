"""Defence in depth for every session medallion uses: settings the environment file cannot undo.

Applied by :func:`medallion.session.get_spark` AFTER the environment file's ``spark:`` map, so an env file
that sets them otherwise is overridden (with a warning):

- ``spark.sql.variable.substitute=false``: ``${env:X}`` / ``${spark.x}`` in SQL stay literal text;
- ``spark.redaction.string.regex``: credential-shaped strings are redacted where Spark applies it
  (plan strings, SQL text in the UI and event logs);
- Spark's own log lines that carry row values of a failed task (``Executor`` / ``TaskSetManager``
  exceptions, e.g. a ``raise_error`` message) are silenced: the failure reaches us masked, through our logs.

While configuration SQL is analysed (:func:`config_sql`: validation and gold's ``spark.sql``),
``spark.sql.runSQLOnFiles=false`` as well: ``parquet.`/path``` and friends are not relations at all.
It cannot be off for the whole session: Delta's own table builder resolves ``delta.`/path```.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager

from pyspark.sql import SparkSession

__all__ = ["CONFIG_SQL", "FORCED", "REDACTION_REGEX", "config_sql", "harden"]

log = logging.getLogger(__name__)

#: Credential-shaped strings for Spark's own redaction (Java regex).
REDACTION_REGEX = (
    r"(?i)(AccountKey=[^;\s]+|SharedAccessSignature=[^;\s]+|[?&]sig=[^&\s]+|bearer\s+[A-Za-z0-9._~+/=-]+"
    r"|client_secret[=:][^&\s]+)"
)

#: While configuration SQL is analysed, whatever the session says.
CONFIG_SQL: dict[str, str] = {"spark.sql.runSQLOnFiles": "false", "spark.sql.variable.substitute": "false"}

FORCED: dict[str, str] = {
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
        _masking_console(jvm)
    except Exception as err:  # another logging backend: our own sinks still mask
        log.warning("cannot mask Spark's own log lines (%s): its stderr may quote row data", type(err).__name__)
    return spark


#: Credential shapes for Spark's log lines (Java regex, no braces: log4j's pattern parser counts them).
_LOG_REGEX = (
    r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+|AccountKey=[^;\s]+|SharedAccessSignature=[^;\s]+|sig=[^&\s'\x22]+"
    r"|client_?secret\s*[=:]\s*[^&\s'\x22]+|password\s*[=:]\s*[^;&\s'\x22]+"
    r"|[A-Za-z0-9_~.-][A-Za-z0-9_~.-][A-Za-z0-9_~.-][0-9]Q~[A-Za-z0-9_~.-]+|[A-Za-z0-9+/]+==|eyJ[A-Za-z0-9_-]+[.]eyJ[A-Za-z0-9_-]+[.][A-Za-z0-9_-]+"
)
_MASKED_APPENDER = "medallion-masked-console"


def _masking_console(jvm: object) -> None:
    """Replace the driver's console appenders by one whose pattern masks secrets (log4j2 ``%replace``):
    the values of secret environment variables and credential-shaped strings, in messages and stack traces."""
    from medallion.logs import _secret_values  # the same secret variables as every other sink

    core = jvm.org.apache.logging.log4j.core  # type: ignore[attr-defined]
    regex = "|".join(
        [f"\\Q{v}\\E" for v in _secret_values() if not set(v) & set("{}\\") and "\\E" not in v] + [_LOG_REGEX]
    )
    context = jvm.org.apache.logging.log4j.LogManager.getContext(False)  # type: ignore[attr-defined]
    config = context.getConfiguration()
    root = config.getRootLogger()
    if _MASKED_APPENDER in set(root.getAppenders().keySet()):
        root.removeAppender(_MASKED_APPENDER)
    pattern = f"%d{{yy/MM/dd HH:mm:ss}} %p %c{{1}}: %replace{{%m %throwable}}{{{regex}}}{{***}}%n"
    layout = core.layout.PatternLayout.newBuilder().withPattern(pattern).withConfiguration(config)
    layout = layout.withAlwaysWriteExceptions(False).build()  # the exception only inside %replace
    target = getattr(core.appender, "ConsoleAppender$Target").SYSTEM_ERR
    appender = core.appender.ConsoleAppender.createAppender(layout, None, target, _MASKED_APPENDER, True, False, True)
    appender.start()
    config.addAppender(appender)
    for name in list(root.getAppenders().keySet()):
        root.removeAppender(name)
    root.addAppender(appender, None, None)
    context.updateLoggers()


def config_sql(spark: SparkSession) -> AbstractContextManager[None]:
    """Analyse configuration SQL inside this block: :data:`CONFIG_SQL` set, the previous values restored after."""
    from medallion.session import session_conf  # medallion.session imports this module

    return session_conf(spark, CONFIG_SQL)
