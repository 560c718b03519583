"""The run log: one typed record per layer run in the Delta table ``{lakehouse_root}/_audit/runs``.

Every layer returns a :class:`LayerResult`; the runner appends it here whether the layer succeeded or
failed, so a dashboard over the run log sees every attempt and its counts.
"""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["LayerResult", "RUN_LOG_SCHEMA", "as_utc", "new_run_id", "utc_now", "write_run_log", "read_run_log"]

log = logging.getLogger(__name__)

RUN_LOG_SCHEMA = (
    "run_id STRING, pipeline STRING, environment STRING, layer STRING, `table` STRING, status STRING, "
    "rows_in BIGINT, rows_out BIGINT, rows_corrupt BIGINT, rows_quarantined BIGINT, rows_superseded BIGINT, "
    "rows_warned BIGINT, files_ingested INT, files_skipped INT, "
    "source_version BIGINT, target_version BIGINT, "
    "started_at TIMESTAMP, ended_at TIMESTAMP, duration_seconds DOUBLE, error STRING, details STRING"
)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock; tests inject their own)."""
    return datetime.now(UTC)


def as_utc(ts: datetime) -> datetime:
    """``ts`` as a timezone-aware UTC datetime (a naive one is taken to be UTC already).

    Spark converts an aware datetime to the right instant whatever the machine's time zone; a naive one
    it would read in the driver's local zone.
    """
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id such as ``20261126T132400Z-1a2b3c4d``."""
    now = now or utc_now()
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


@dataclass
class LayerResult:
    """What one layer run did. Counts that do not apply to a layer stay 0.

    Identities the layers guarantee (and tests check):
        bronze: rows_in == rows_out (every record is kept; rows_corrupt of them unparseable).
        silver: rows_in == rows_out + rows_quarantined + rows_superseded.
    """

    run_id: str
    pipeline: str
    environment: str
    layer: str
    table: str
    status: str = "running"  # running | succeeded | failed | skipped (nothing new)
    rows_in: int = 0
    rows_out: int = 0
    rows_corrupt: int = 0
    rows_quarantined: int = 0
    rows_superseded: int = 0
    rows_warned: int = 0
    files_ingested: int = 0
    files_skipped: int = 0
    source_version: int | None = None
    target_version: int | None = None
    started_at: datetime = field(default_factory=utc_now)
    ended_at: datetime | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def finish(self, status: str, *, now: datetime | None = None, error: str | None = None) -> LayerResult:
        """Mark the run ended with ``status`` (and an error message, when it failed)."""
        self.status = status
        self.error = error
        self.ended_at = now or utc_now()
        return self

    def summary(self) -> dict[str, Any]:
        """A JSON-ready view for ``--output json`` and logs."""
        out = asdict(self)
        out["started_at"] = self.started_at.isoformat()
        out["ended_at"] = self.ended_at.isoformat() if self.ended_at else None
        out["duration_seconds"] = self.duration_seconds
        return out

    def _row(self) -> tuple[Any, ...]:
        return (
            self.run_id, self.pipeline, self.environment, self.layer, self.table, self.status,
            self.rows_in, self.rows_out, self.rows_corrupt, self.rows_quarantined, self.rows_superseded,
            self.rows_warned, self.files_ingested, self.files_skipped,
            self.source_version, self.target_version,
            as_utc(self.started_at), self.ended_at and as_utc(self.ended_at), self.duration_seconds, self.error,
            json.dumps(self.details, sort_keys=True, default=str),
        )


def write_run_log(spark: SparkSession, path: str, results: list[LayerResult]) -> None:
    """Append layer results to the run log table (created on first use)."""
    if not results:
        return
    df = spark.createDataFrame([r._row() for r in results], RUN_LOG_SCHEMA)
    df.write.format("delta").mode("append").save(path)
    log.info("run log: %d record(s) appended to %s", len(results), path)


def read_run_log(spark: SparkSession, path: str) -> DataFrame:
    """The run log as a DataFrame."""
    return spark.read.format("delta").load(path)
