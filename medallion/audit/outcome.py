"""What a layer run is given and what it returns: :class:`RunContext` in, :class:`LayerOutcome` out.

A layer never sees the run log: it returns a frozen outcome, and the runner alone turns it into a
run-log record (:class:`medallion.audit.run_log.RunRecord`). A layer that fails after counting something
raises an error carrying its partial outcome (:class:`~medallion.errors.MedallionError.partial`), so
the failed run's record still shows what was counted.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = ["Status", "RunContext", "LayerOutcome", "COUNT_FIELDS"]


class Status(StrEnum):
    """How a layer run ended."""

    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"  # nothing new to do: no table got a new version
    FAILED = "failed"
    BLOCKED = "blocked"  # not run: a layer it depends on failed


@dataclass(frozen=True)
class RunContext:
    """One layer run's identity and clock (``now`` stamps every audit column it writes)."""

    run_id: str
    now: datetime


@dataclass(frozen=True)
class LayerOutcome:
    """What one layer run did. Counts that do not apply to a layer stay 0.

    Identities the layers guarantee (and tests check):
        bronze: rows_in == rows_out (every record is kept; rows_corrupt of them unparseable).
        silver: rows_in == rows_out + rows_deleted + rows_quarantined + rows_superseded
        (rows_deleted: deletes that removed a key, or closed its current interval in history mode).

    ``details`` holds the layer's own facts for the run log's JSON column (files read, MERGE metrics,
    per gold table build modes, ...).
    """

    status: Status = Status.SUCCEEDED
    rows_in: int = 0
    rows_out: int = 0
    rows_corrupt: int = 0
    rows_quarantined: int = 0
    rows_superseded: int = 0
    rows_deleted: int = 0
    rows_warned: int = 0
    files_ingested: int = field(default=0, metadata={"sql": "INT"})  # the run log's column type
    files_skipped: int = field(default=0, metadata={"sql": "INT"})
    source_version: int | None = None
    target_version: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


#: The outcome's counts and versions: the run log has one column for each.
COUNT_FIELDS = tuple(f for f in fields(LayerOutcome) if f.name not in ("status", "details"))
