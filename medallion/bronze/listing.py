"""The landing zone's files: every data file under a root, listed by Spark's own file index.

Example:
    >>> [f.path for f in list_files(spark, "abfss://landing@acct.dfs.core.windows.net/orders")]
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from pyspark.sql import SparkSession

from medallion.errors import SourceError

__all__ = ["LandingFile", "list_files"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LandingFile:
    """One file in the landing zone."""

    path: str  # fully qualified, as Spark reports it in _metadata.file_path
    size: int
    modified_ms: int


def list_files(spark: SparkSession, root: str) -> list[LandingFile]:
    """Every data file under ``root``, recursively, skipping hidden (``.x``) and metadata (``_x``) entries.

    A missing landing folder holds no files (a fresh environment is normal), so it returns ``[]``.
    The listing is Spark's own (``InMemoryFileIndex``: parallel for many folders, the same code path as
    a read of ``abfss://``), handed to Python in one piece rather than one py4j call per file, so listing
    100,000 files costs a fraction of a second of Python.
    """
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    root_path = jvm.org.apache.hadoop.fs.Path(root)
    try:
        fs = root_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        if not fs.exists(root_path):
            log.warning("landing path %s does not exist yet: no files", root)
            return []
        root_q = fs.makeQualified(root_path).toString().rstrip("/")
        # Spark reads a load path as a glob: a root holding glob characters is listed file by file.
        listed = None if any(c in root for c in "*?[]{}\\") else _index_listing(spark, root)
        if listed is None:
            listed = _iterate_listing(fs, root_path)
    except Exception as err:  # py4j surfaces Java IO errors as generic exceptions
        raise SourceError(f"cannot list landing path {root}: {type(err).__name__}: {err}") from err
    files = []
    for path, size, modified in listed:
        relative = path[len(root_q):].lstrip("/") if path.startswith(root_q) else path.rsplit("/", 1)[-1]
        if any(part.startswith((".", "_")) for part in relative.split("/")):
            continue
        files.append(LandingFile(path, size, modified))
    return sorted(files, key=lambda f: f.path)


# Hadoop's FileStatus.toString(): "...{path=P; isDirectory=false; length=N; ...; modification_time=T; ..."
_STATUS = re.compile(r"\{path=(.*?); isDirectory=false; length=(\d+); .*?modification_time=(\d+);")


def _index_listing(spark: SparkSession, root: str) -> list[tuple[str, int, int]] | None:
    """The leaf files of ``root`` from Spark's file index, or None when the plan is not the expected one."""
    df = spark.read.format("text").option("recursiveFileLookup", "true").load(root)
    plan = df._jdf.queryExecution().analyzed()
    if plan.getClass().getSimpleName() != "LogicalRelation":
        return None
    index = plan.relation().location()
    statuses = index.allFiles()
    count = int(statuses.size())
    text = str(statuses.toString()) if count else ""
    found = [(m.group(1), int(m.group(2)), int(m.group(3))) for m in _STATUS.finditer(text)]
    return found if len(found) == count else None


def _iterate_listing(fs, root_path) -> list[tuple[str, int, int]]:  # type: ignore[no-untyped-def]
    out = []
    it = fs.listFiles(root_path, True)
    while it.hasNext():
        status = it.next()
        out.append((status.getPath().toString(), int(status.getLen()), int(status.getModificationTime())))
    return out
