"""Where rows are counted: each layer's accounting identity, written once.

A layer run accounts for every row it read: bronze keeps each record (``rows_in == rows_out``); silver
merges, deletes, quarantines or supersedes each one (``rows_in == rows_out + rows_deleted +
rows_quarantined + rows_superseded``). Gold aggregates and has no row identity. The layers' tests, the
runner (which logs a broken identity beside the run-log record), ``medallion check`` and the run report
all ask :func:`accounting_identity`, so the three can never disagree.

Example:
    >>> accounting_identity("silver", "succeeded", {"rows_in": 10, "rows_out": 6, "rows_deleted": 1,
    ...                                            "rows_quarantined": 2, "rows_superseded": 1}).formula
    'in 10 = 6 merged + 1 deleted + 2 quarantined + 1 superseded'
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from medallion.audit.outcome import Status

__all__ = ["IDENTITY_TERMS", "Identity", "accounting_identity"]

#: Per layer, the counts whose sum must equal ``rows_in`` and how the formula names each.
IDENTITY_TERMS: dict[str, tuple[tuple[str, str], ...]] = {
    "bronze": (("rows_out", "out"),),
    "silver": (
        ("rows_out", "merged"),
        ("rows_deleted", "deleted"),
        ("rows_quarantined", "quarantined"),
        ("rows_superseded", "superseded"),
    ),
}


@dataclass(frozen=True)
class Identity:
    """Whether one layer run's counts add up (``n/a``: failed runs and gold), and the formula shown."""

    state: Literal["holds", "broken", "n/a"]
    formula: str

    @property
    def holds(self) -> bool:
        """True unless the counts are known not to add up."""
        return self.state != "broken"


def _count(counts: Mapping[str, object], name: str) -> int:
    value = counts.get(name)
    return int(value) if isinstance(value, int | float) else 0  # a column an older run log lacks counts 0


def accounting_identity(layer: str, status: str, counts: Mapping[str, object]) -> Identity:
    """The accounting identity of one layer run.

    Args:
        layer: ``bronze``, ``silver`` or ``gold``.
        status: the run's status; a failed run committed nothing, so it has no identity to check.
        counts: the run's counts by their :class:`~medallion.audit.outcome.LayerOutcome` field names
            (an outcome's ``vars()``, a run-log row, a report record's ``vars()``); missing counts are 0.

    Returns:
        ``holds`` / ``broken`` with the formula, or ``n/a`` for a failed run and for gold.
    """
    if str(status) == Status.FAILED:
        return Identity("n/a", "run failed: nothing committed")
    terms = IDENTITY_TERMS.get(layer)
    rows_in = _count(counts, "rows_in")
    if terms is None:
        return Identity("n/a", f"in {rows_in:,}, out {_count(counts, 'rows_out'):,} (aggregates: no row identity)")
    parts = [(_count(counts, name), label) for name, label in terms]
    ok = rows_in == sum(n for n, _ in parts)
    return Identity(
        "holds" if ok else "broken",
        f"in {rows_in:,} {'=' if ok else '≠'} " + " + ".join(f"{n:,} {label}" for n, label in parts),
    )
