"""Landing files that cannot be read at all (a truncated gzip, a broken Parquet footer): which one, and why.

Spark names the file in some read errors and not in others (a failure in the middle of a compressed
stream is not wrapped with its path): :func:`unreadable_file` reads the name from the error when it is
there, :func:`find_unreadable` finds the file by bisection when it is not, and
:func:`medallion.errors.deepest_java_cause` gives the deepest Java cause for the file record.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from pyspark.sql import SparkSession

from medallion.config import SourceConfig
from medallion.errors import SourceError

__all__ = ["UnreadableFileError", "unreadable_file", "find_unreadable"]


class UnreadableFileError(SourceError):
    """A landing file that cannot be read at all (e.g. a truncated gzip): set it aside, read the rest."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read landing file {path}: {reason}")
        self.path = path
        self.reason = reason


_READ_ERROR = re.compile(r"Encountered error while reading file (\S+?)\.? Details")
_FOOTER_ERROR = re.compile(r"(?:Could not read footer for file|reading footer for file)[^\n]*?path=([^;]+);")
_NOT_PARQUET = re.compile(r"(\S+) is not a Parquet file")


def _normal(path: str) -> str:
    # Spark reports file:///x, Hadoop's Path.toString file:/x, and either may %-encode.
    from urllib.parse import unquote

    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*):///", r"\1:/", unquote(path))


def unreadable_file(err: BaseException, paths: Sequence[str]) -> str | None:
    """The one of ``paths`` a Spark read error blames as unreadable, or None (not a file read error)."""
    texts = []
    cause: BaseException | None = err
    while cause is not None and len(texts) < 10:
        texts.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    text = "\n".join(texts)
    by_norm = {_normal(p): p for p in paths}
    for pattern in (_READ_ERROR, _FOOTER_ERROR, _NOT_PARQUET):
        for match in pattern.finditer(text):
            found = by_norm.get(_normal(match.group(1)))
            if found is not None:
                return found
    return None


#: Errors that mean "this file cannot be read" (decompression, container format), when Spark does not
#: name the file (a failure in the middle of a stream is not wrapped with its path).
_READ_FAILURE = re.compile(
    r"EOFException|ZipException|Not in GZIP format|Unexpected end of input|CorruptedInput|"
    r"ParquetDecodingException|not a Parquet file|Could not read footer|Encountered error while reading file|"
    r"MalformedInputException|DataFormatException|CRC"
)


def find_unreadable(spark: SparkSession, source: SourceConfig, err: BaseException, paths: Sequence[str]) -> str | None:
    """The first of ``paths`` that cannot be read, found by bisection, when ``err`` looks like a file read
    failure that names no file (None otherwise). Costs O(log n) small reads, only on that failure."""
    text = "\n".join(str(e) for e in (err, err.__cause__, err.__context__) if e is not None)
    if not _READ_FAILURE.search(text):
        return None
    candidates = list(paths)
    if not _unreadable(spark, source, candidates):
        return None
    while len(candidates) > 1:
        half = candidates[: len(candidates) // 2]
        candidates = half if _unreadable(spark, source, half) else candidates[len(half):]
    return candidates[0]


def _unreadable(spark: SparkSession, source: SourceConfig, paths: Sequence[str]) -> bool:
    """Whether reading ``paths`` whole (every byte decompressed, every Parquet footer) fails."""
    try:
        if source.format == "parquet":
            spark.read.parquet(*paths).count()
        else:
            spark.read.format("text").load(list(paths)).count()
    except Exception:  # the very failure being looked for
        return True
    return False

