"""The report's model: the plain dataclasses the page is built from.

Nothing here touches Spark. A :class:`LayerRun` is one run-log record read back from the table; the
other classes are what the page shows about a pipeline (:class:`DatasetReport`) and the whole
environment (:class:`Report`). The few values a class derives from its own fields live here too: a
run's accounting identity (:attr:`LayerRun.identity`, from :mod:`medallion.audit.accounting`) and a page's
status. The functions that compute the rest from rows are in :mod:`medallion.report.compute`.

Example:
    >>> run = LayerRun.from_row(run_log_row)
    >>> run.identity.state
    'holds'
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from medallion.audit.accounting import Identity, accounting_identity
from medallion.audit.outcome import COUNT_FIELDS, LayerOutcome
from medallion.audit.run_log import RUN_LOG_COLUMNS as RUN
from medallion.clock import as_utc

if TYPE_CHECKING:
    from medallion.report.lake import LakeView

__all__ = [
    "CheckRow",
    "DatasetReport",
    "DeadLetterGroup",
    "DeadLetterSample",
    "DriftEvent",
    "FailedRun",
    "Flow",
    "FlowEdge",
    "FlowNode",
    "LayerRun",
    "QuarantinedFile",
    "Report",
    "Trends",
]


# _int and _order are shared with medallion.report.compute.
def _int(value: Any) -> int:
    return int(value) if value is not None else 0


# --------------------------------------------------------------------------- the run log


@dataclass(frozen=True)
class LayerRun:
    """One run-log record (one layer of one run), as read back from the table.

    Read from the run log's columns (:class:`medallion.audit.run_log.RunRecord`'s flattened form), so a
    page can be built from any run log, including one written by an older or newer medallion. Its counts
    are the outcome's own fields (:data:`~medallion.audit.outcome.COUNT_FIELDS`), kept in ``counts`` and
    read as the record's attributes (``run.rows_deleted``), never retyped here.
    """

    run_id: str
    pipeline: str
    layer: str
    table: str
    status: str
    counts: LayerOutcome = field(default_factory=LayerOutcome)
    started_at: datetime | None = None
    duration_seconds: float | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name in _COUNT_NAMES:  # only reached for names that are not the record's own fields
            return getattr(self.counts, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LayerRun:
        """A record from a run-log row (a ``Row.asDict()``); columns a newer run log adds are ignored,
        columns an older one lacks default to 0 / None."""
        details = row.get(RUN.details)
        if isinstance(details, str):
            try:
                details = json.loads(details)
            except ValueError:
                details = {}
        started = row.get(RUN.started_at)
        counts = {f.name: _int(row.get(f.name)) for f in COUNT_FIELDS if f.name not in _VERSIONS}
        counts.update({name: row.get(name) for name in _VERSIONS})
        return cls(
            run_id=str(row[RUN.run_id]),
            pipeline=str(row.get(RUN.pipeline) or ""),
            layer=str(row.get(RUN.layer) or ""),
            table=str(row.get(RUN.table) or ""),
            status=str(row.get(RUN.status) or "unknown"),
            counts=LayerOutcome(**counts),
            started_at=as_utc(started) if isinstance(started, datetime) else None,
            duration_seconds=float(row[RUN.duration_seconds]) if row.get(RUN.duration_seconds) is not None else None,
            error=row.get(RUN.error),
            details=details if isinstance(details, dict) else {},
        )

    @property
    def identity(self) -> Identity:
        """The run's accounting identity (:func:`medallion.audit.accounting.accounting_identity`)."""
        return accounting_identity(self.layer, self.status, vars(self.counts))


_VERSIONS = ("source_version", "target_version")
_COUNT_NAMES = frozenset(f.name for f in COUNT_FIELDS)


def _order(run: LayerRun) -> tuple[datetime, str]:
    return (run.started_at or datetime.min.replace(tzinfo=UTC), run.run_id)


# --------------------------------------------------------------------------- flow graph


@dataclass(frozen=True)
class FlowNode:
    id: str
    label: str
    kind: str  # landing | bronze | silver | dead_letters | gold
    status: str  # succeeded | failed | skipped | never run | ...
    x: int
    y: int


@dataclass(frozen=True)
class FlowEdge:
    source: str
    target: str
    value: int
    label: str


@dataclass(frozen=True)
class Flow:
    nodes: list[FlowNode]
    edges: list[FlowEdge]


# --------------------------------------------------------------------------- trends


@dataclass(frozen=True)
class Trends:
    """Per-run series over the last N runs, oldest first, for the charts.

    ``rows`` / ``duration`` map a series name to one value per run (None: the layer did not run);
    ``failure_rate`` maps each expectation to the percentage of silver's input rows that failed it.
    """

    run_ids: list[str]
    labels: list[str]
    statuses: list[str]
    rows: dict[str, list[int | None]]
    duration: dict[str, list[float | None]]
    failure_rate: dict[str, list[float | None]]


# --------------------------------------------------------------------------- failed runs


@dataclass(frozen=True)
class FailedRun:
    run_id: str
    layer: str
    table: str
    started_at: str
    error: str


# --------------------------------------------------------------------------- schema drift


@dataclass(frozen=True)
class DriftEvent:
    """Columns a bronze commit added, the run that made it and the files whose records carry them."""

    version: int
    at: str
    run_id: str | None
    columns: list[str]
    files: dict[str, list[str]] = field(default_factory=dict)


# --------------------------------------------------------------------------- dead letters, checks, files


@dataclass(frozen=True)
class DeadLetterGroup:
    rule: str
    status: str
    rows: int
    last_run_id: str | None


@dataclass(frozen=True)
class DeadLetterSample:
    rule: str
    values: list[tuple[str, str]]


@dataclass(frozen=True)
class CheckRow:
    name: str
    table: str
    run_id: str
    observed: str
    threshold: str
    passed: bool


@dataclass(frozen=True)
class QuarantinedFile:
    path: str
    size: str
    error: str
    run_id: str
    at: str


# --------------------------------------------------------------------------- the page


@dataclass
class DatasetReport:
    """Everything the page shows about one pipeline."""

    pipeline: str
    tables: dict[str, str]
    latest: dict[str, LayerRun]
    flow: Flow
    trends: Trends
    failed: list[FailedRun]
    drift: list[DriftEvent]
    dead_letters: list[DeadLetterGroup] | None  # None: no dead-letter table yet
    dead_letter_samples: list[DeadLetterSample]
    checks: list[CheckRow] | None  # None: no check results recorded in this lakehouse
    quarantined_files: list[QuarantinedFile] | None  # None: no quarantined-file records
    runs_shown: int
    dlq_table: str | None = None
    lake: LakeView | None = None  # the lake's state beyond the last run (medallion.report.lake)

    @property
    def status(self) -> str:
        """``failed`` if a layer's latest run failed, ``never run``, else ``succeeded``."""
        if not self.latest:
            return "never run"
        if any(r.status == "failed" for r in self.latest.values()):
            return "failed"
        if any(r.identity.state == "broken" for r in self.latest.values()):
            return "broken"
        return "succeeded"

    @property
    def last_run(self) -> LayerRun | None:
        return max(self.latest.values(), key=_order) if self.latest else None


@dataclass
class Report:
    environment: str
    lakehouse_root: str
    generated_at: datetime
    runs: int
    datasets: list[DatasetReport]
    has_run_log: bool

    @property
    def empty(self) -> bool:
        return not self.has_run_log or not any(d.latest for d in self.datasets)
