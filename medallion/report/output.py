"""Write the page: a local file, or any Hadoop file system URL (``abfss://`` on Synapse) through the
JVM's Hadoop ``FileSystem``, which already holds the workspace's credentials for the lakehouse."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from medallion.config import is_uri

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["write_report"]

log = logging.getLogger(__name__)


def write_report(spark: SparkSession | None, html: str, out: str) -> str:
    """Write ``html`` (UTF-8) to ``out`` and return where it went.

    A local path is written directly (parent folders created, the old file replaced atomically);
    a URL (``abfss://…``, ``file://…``) goes through Hadoop's ``FileSystem.create(path, overwrite)``,
    so it needs ``spark``.

    Raises:
        ValueError: ``out`` is a URL and no session was given.
    """
    data = html.encode("utf-8")
    if not is_uri(out):
        target = Path(out).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        tmp.write_bytes(data)
        tmp.replace(target)
        log.info("report: %d bytes written to %s", len(data), target)
        return str(target)
    if spark is None:
        raise ValueError(f"writing to {out} needs a Spark session (Hadoop file system)")
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    path = jvm.org.apache.hadoop.fs.Path(out)
    fs = path.getFileSystem(conf)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()
    log.info("report: %d bytes written to %s", len(data), out)
    return out
