"""Bounded retry of Delta commits on Delta's write-conflict exceptions (tenacity).

Used by :mod:`medallion.delta_table`'s commit helpers (which re-export :func:`with_retry` and
:data:`RETRYABLE`) and by silver's MERGE.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)
from tenacity import Retrying, before_sleep_log, retry_if_exception_type, stop_after_attempt, wait_exponential

from medallion.errors import RunError

__all__ = ["RETRYABLE", "retrying", "with_retry"]

log = logging.getLogger(__name__)

#: Delta's write-conflict exceptions worth retrying. ``ConcurrentTransactionException`` is not among
#: them: it means another run committed the same idempotent transaction, and a retry would be dropped.
RETRYABLE: tuple[type[Exception], ...] = (
    ConcurrentAppendException,
    ConcurrentDeleteReadException,
    ConcurrentDeleteDeleteException,
    ConcurrentWriteException,
    MetadataChangedException,
    ProtocolChangedException,
    DeltaConcurrentModificationException,
)


def retrying(max_attempts: int = 3, wait_seconds: float = 1.0) -> Retrying:
    """The retry policy for Delta commits: only :data:`RETRYABLE` conflicts, at most ``max_attempts``."""
    return Retrying(
        retry=retry_if_exception_type(RETRYABLE),
        stop=stop_after_attempt(max_attempts),
        wait=wait_exponential(multiplier=wait_seconds, max=30),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )


def with_retry(fn: Callable[[], None], what: str, *, max_attempts: int = 3, wait_seconds: float = 1.0) -> None:
    """Run one Delta commit, retrying Delta's write conflicts; raise :class:`RunError` when they persist."""
    try:
        for attempt in retrying(max_attempts, wait_seconds):
            with attempt:
                fn()
    except ConcurrentTransactionException as err:
        raise RunError(f"{what}: another run committed the same transaction concurrently") from err
    except RETRYABLE as err:
        raise RunError(f"{what}: write conflict persisted after {max_attempts} attempts ({type(err).__name__})") from err
