"""The lake's state on the page, not only the last run: the model and its pure computations (no Spark).

On a healthy lake the latest run is usually a no-op (every layer ``skipped``, zeros everywhere), so the
page also shows, per pipeline (:class:`LakeView`):

* per table: rows, files, size, version and last commit (:class:`TableStats`, from Delta's snapshot);
* per layer: the latest run *that did work* (``succeeded``) beside the latest run;
* the dead letters in total by status: pending / replayed / discarded (:class:`DeadLetterTotals`);
* freshness: the time since the newest ingested landing file and since silver last changed, red
  when either is older than the pipeline's ``freshness`` check's ``max_age`` (:class:`Freshness`);
* the circuit breaker's state (:class:`medallion.observe.breaker.BreakerState`) when it is on.

:mod:`medallion.report.lake_gather` reads these from the lakehouse.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from medallion.report.model import LayerRun

if TYPE_CHECKING:
    from medallion.config import PipelineConfig
    from medallion.observe.breaker import BreakerState

__all__ = ["TableStats", "DeadLetterTotals", "Freshness", "LakeView", "freshness_threshold", "age_text", "size_text"]


@dataclass(frozen=True)
class TableStats:
    """One Delta table's size from its snapshot: rows (Delta's file statistics), files, bytes, last commit."""

    name: str  # layer/table
    exists: bool
    rows: int | None = None
    files: int | None = None
    size_bytes: int | None = None
    version: int | None = None
    last_commit_at: datetime | None = None
    last_operation: str | None = None


@dataclass(frozen=True)
class DeadLetterTotals:
    """Dead-letter rows by status (a row counts once, whatever the number of rules it failed)."""

    pending: int = 0
    replayed: int = 0
    discarded: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.replayed + self.discarded

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> DeadLetterTotals:
        """From ``{status: rows}`` (null or unknown statuses count as pending)."""
        known = {"replayed", "discarded"}
        return cls(
            pending=sum(n for s, n in counts.items() if s not in known),
            replayed=counts.get("replayed", 0),
            discarded=counts.get("discarded", 0),
        )


@dataclass(frozen=True)
class Freshness:
    """How old the newest data is, against the pipeline's ``freshness`` threshold (seconds; None: none)."""

    now: datetime
    newest_file: str | None = None
    newest_file_at: datetime | None = None  # its modification time in the landing zone
    newest_file_ingested_at: datetime | None = None
    silver_changed_at: datetime | None = None
    threshold_seconds: float | None = None
    threshold_text: str | None = None

    def _age(self, at: datetime | None) -> float | None:
        return None if at is None else max(0.0, (self.now - at).total_seconds())

    @property
    def landing_age(self) -> float | None:
        return self._age(self.newest_file_at)

    @property
    def silver_age(self) -> float | None:
        return self._age(self.silver_changed_at)

    @property
    def state(self) -> str:
        """``stale`` (an age above the threshold), ``fresh``, ``no threshold`` or ``no data``."""
        ages = [a for a in (self.landing_age, self.silver_age) if a is not None]
        if not ages:
            return "no data"
        if self.threshold_seconds is None:
            return "no threshold"
        return "stale" if max(ages) > self.threshold_seconds else "fresh"


@dataclass
class LakeView:
    """The lake's state for one pipeline (see the module docstring)."""

    tables: list[TableStats]
    last_work: dict[str, LayerRun]  # per layer, the latest run that succeeded (did work)
    dead_letters: DeadLetterTotals | None  # None: no dead-letter table
    freshness: Freshness
    breaker: BreakerState | None = None  # None: the breaker is off in this environment
    notes: list[str] = field(default_factory=list)


def freshness_threshold(pipeline: PipelineConfig) -> tuple[float, str] | None:
    """The smallest ``max_age`` of the pipeline's ``freshness`` checks (silver's and gold's), or None."""
    checks = list(pipeline.silver.checks) if pipeline.silver else []
    for gold in pipeline.gold:
        checks += list(getattr(gold, "checks", []) or [])
    ages = [(c.freshness.max_age_seconds, c.freshness.max_age) for c in checks if c.freshness is not None]
    return min(ages) if ages else None


def age_text(seconds: float | None) -> str:
    """``"3 d 4 h"``, ``"5 h 12 min"``, ``"12 min"``, ``"40 s"``; ``"–"`` for None."""
    if seconds is None:
        return "–"
    s = int(seconds)
    days, hours, minutes = s // 86400, s % 86400 // 3600, s % 3600 // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{s} s"


def size_text(size: int | None) -> str:
    """Bytes as ``"1.2 MiB"``; ``"–"`` for None."""
    if size is None:
        return "–"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size} B"
