"""Time and run ids: every timestamp medallion hands to Spark is timezone-aware UTC."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

__all__ = ["utc_now", "as_utc", "new_run_id"]


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
