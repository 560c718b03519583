"""The record of landing files bronze has dealt with: ``{lakehouse_root}/_audit/files``, a small Delta table.

One row per decision about a file (append-only), queryable by anyone::

    bronze_table  path  size  modified_ms  status  error  bronze_version  phase  run_id  recorded_at

``status`` is ``ingested`` (its rows are in bronze), ``empty`` (0 bytes, nothing to ingest),
``unreadable`` (quarantined as a whole: the file could not be read at all, ``error`` says why) or
``redelivery_skipped`` (an ingested name came again with another size or modification time and was not
re-ingested). A file's current state is its latest row, ordered by ``(bronze_version, phase,
recorded_at)``: ``phase`` 0 rows come with the bronze commit ``bronze_version``, phase 1 rows from a run
that planned on that version without committing to bronze.

Why a table and not the bronze table itself: deciding what is new must not grow with the landing zone's
history. Reading this log is one scan of a few compact files, whatever bronze holds; the former probe
(an ``IN`` list of every listed path against bronze's ``_source_file``) grew with both.

Exactly once, across crashes: bronze stays the truth. Rows for the files of bronze commit ``c`` are
appended after that commit, as Delta's idempotent write ``(txnAppId = the bronze table, txnVersion =
c)``. So the log's committed txn version is a watermark: every bronze commit up to it is in the log.
A run that finds bronze ahead of the watermark (a crash between the two commits, or a table older than
the log) first catches up from bronze's change feed for the missing versions, before deciding anything.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import SimpleNamespace
from urllib.parse import unquote

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from medallion import delta_table
from medallion.clock import as_utc
from medallion.columns import SOURCE_FILE
from medallion.sql import rows_frame

__all__ = ["FileStatus", "FileEntry", "FileLog", "SCHEMA", "FILE_LOG_COLUMNS", "normal_path"]

log = logging.getLogger(__name__)

SCHEMA = (
    "bronze_table STRING, path STRING, size BIGINT, modified_ms BIGINT, status STRING, error STRING, "
    "bronze_version BIGINT, phase INT, run_id STRING, recorded_at TIMESTAMP"
)
FILE_LOG_COLUMNS = SimpleNamespace(**{c.split()[0]: c.split()[0] for c in SCHEMA.split(", ")})
"""The file record's column names as attributes (``FILE_LOG_COLUMNS.bronze_table``), derived from
:data:`SCHEMA`: readers elsewhere spell a column through this namespace, never as a string literal."""
_COMPACT_EVERY = 64  # commits between compactions of the log (each append adds one small file)


class FileStatus(StrEnum):
    INGESTED = "ingested"
    EMPTY = "empty"
    UNREADABLE = "unreadable"
    REDELIVERY_SKIPPED = "redelivery_skipped"


@dataclass(frozen=True)
class FileEntry:
    """One decision about one landing file."""

    path: str
    size: int | None
    modified_ms: int | None
    status: FileStatus
    error: str | None = None

    def same_content(self, size: int, modified_ms: int) -> bool:
        """Whether a listed file still has the size and modification time recorded here."""
        return self.size == size and self.modified_ms == modified_ms


def normal_path(path: str) -> str:
    """A path as Hadoop lists it and as Spark reports it (``file:///x``, %-encoded) compared equal."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*):///", r"\1:/", unquote(path))


class FileLog:
    """The file record of one bronze table (``bronze_path``), in the log table at ``path``."""

    def __init__(self, spark: SparkSession, path: str, bronze_path: str) -> None:
        self.spark = spark
        self.path = path
        self.bronze_path = bronze_path

    @property
    def app_id(self) -> str:
        return f"medallion-files:{self.bronze_path}"

    # ------------------------------------------------------------------ reading

    def current(self) -> dict[str, FileEntry]:
        """Every recorded file's current state, by :func:`normal_path`."""
        from delta.tables import DeltaTable

        if not DeltaTable.isDeltaTable(self.spark, self.path):
            return {}
        rows = (
            self.spark.read.format("delta").load(self.path)
            .where(F.col("bronze_table") == self.bronze_path)
            .select("path", "size", "modified_ms", "status", "error", "bronze_version", "phase", "recorded_at")
            .collect()
        )
        rows.sort(key=lambda r: (_or(r["bronze_version"], -1), _or(r["phase"], 0), r["recorded_at"]))
        out: dict[str, FileEntry] = {}
        for r in rows:
            out[normal_path(r["path"])] = FileEntry(
                r["path"], r["size"], r["modified_ms"], FileStatus(r["status"]), r["error"]
            )
        return out

    def watermark(self) -> int | None:
        """The last bronze version whose files are all in the log (None: none yet)."""
        return delta_table.committed_txn_version(self.spark, self.path, self.app_id)

    def missing_from_bronze(self, latest: int) -> set[str]:
        """``_source_file`` of bronze commits after the watermark up to ``latest`` (a crash or an old table)."""
        mark = self.watermark()
        if latest < 0 or (mark is not None and mark >= latest):
            return set()
        if mark is None:
            df = self.spark.read.format("delta").option("versionAsOf", latest).load(self.bronze_path)
        else:
            df = delta_table.read_change_feed(self.spark, self.bronze_path, mark + 1, latest).where("_change_type = 'insert'")
        return {r[0] for r in df.select(SOURCE_FILE).distinct().collect() if r[0] is not None}

    # ------------------------------------------------------------------ writing

    def record(
        self,
        entries: Sequence[FileEntry],
        *,
        bronze_version: int,
        committed: bool,
        run_id: str,
        now: datetime,
    ) -> None:
        """Append ``entries``. With ``committed``, they belong to bronze commit ``bronze_version`` and are
        written idempotently under the watermark; otherwise they are plain rows planned on that version."""
        if not entries:
            return
        ts = as_utc(now)
        phase = 0 if committed else 1
        rows = [
            (self.bronze_path, e.path, e.size, e.modified_ms, str(e.status), e.error, bronze_version, phase, run_id, ts)
            for e in entries
        ]
        df = rows_frame(self.spark, rows, SCHEMA).coalesce(1)
        tag = delta_table.CommitTag(run_id, "bronze", {"file_log": True})
        if committed:
            commit = delta_table.append_idempotent(df, self.path, app_id=self.app_id, txn_version=bronze_version, tag=tag)
            version = None if commit is None else commit.version
        else:
            delta_table.with_retry(
                lambda: df.write.format("delta").mode("append").option("userMetadata", tag.metadata()).save(self.path),
                f"append to {self.path}",
            )
            version = delta_table.latest_version(self.spark, self.path)
        self._compact_if_due(version)

    def _compact_if_due(self, version: int | None) -> None:
        """Compact the log at every ``_COMPACT_EVERY``-th commit: each append adds one small file, so the
        log stays at most that many files past its last compaction, decided from the commit version
        alone (counting the files would reconstruct the snapshot: a Spark job on every run)."""
        from delta.tables import DeltaTable

        if not version or version % _COMPACT_EVERY:
            return
        try:
            DeltaTable.forPath(self.spark, self.path).optimize().executeCompaction()
        except Exception as err:  # another run compacting at the same time: a later multiple compacts
            log.warning("file log %s: compaction skipped (%s)", self.path, type(err).__name__)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def entries_for(paths: Iterable[str], listed: Mapping[str, tuple[int, int]], status: FileStatus) -> list[FileEntry]:
    """Entries for ``paths`` (as bronze reports them), sizes and times taken from the listing where present."""
    out = []
    for p in paths:
        size, mtime = listed.get(normal_path(p), (None, None))
        out.append(FileEntry(p, size, mtime, status))
    return out
