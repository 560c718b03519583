"""The benchmark's orders flow at N times its size: copies of one generated dataset with unique keys.

Copy ``c`` (0-based) of every line is the line with its integer ``order_id`` raised by
``c * KEY_STRIDE`` and the year of its timestamps raised by ``c``; corrupt and non-numeric lines are
kept as they are (they are quarantined either way). So each copy is the same flow on keys and dates no
other copy uses: copy 0 is the original, the deliveries keep their order (stale versions still arrive
after their newer ones), and gold gets a set of dates per copy. The expected counts are not scaled: they
are replayed over the written lines by :func:`benchmarks.datagen.expected_counts`, like the original's.

Example:
    >>> manifest = generate_copies("landing/orders", 100_000, copies=10, deliveries=5)  # doctest: +SKIP
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from benchmarks.datagen import GENERATOR_VERSION, Delivery, OrderStream, _split, _write, expected_counts

__all__ = ["KEY_STRIDE", "copy_line", "generate_copies"]

#: Added to every integer ``order_id`` per copy; the generator's keys stay far below it.
KEY_STRIDE = 10_000_000
_ORDER_ID = re.compile(r'("order_id": )(-?\d+)(?=[,}])')
_YEAR = re.compile(r'("(?:created_at|updated_at)": ")(\d{4})(-)')


def copy_line(line: str, copy: int) -> str:
    """``line`` as copy number ``copy`` (0: unchanged): keys and timestamp years moved, nothing else."""
    if copy == 0:
        return line
    line = _ORDER_ID.sub(lambda m: f"{m[1]}{int(m[2]) + copy * KEY_STRIDE}", line)
    return _YEAR.sub(lambda m: f"{m[1]}{int(m[2]) + copy}{m[3]}", line)


def generate_copies(out_dir: str | Path, rows: int, *, copies: int, seed: int = 7, deliveries: int = 5) -> dict[str, Any]:
    """Write ``copies`` copies of the ``rows``-line dataset as ``deliveries`` files (each file holding
    every copy of its delivery, copy after copy) and return the manifest replayed over them."""
    if copies < 1:
        raise ValueError(f"copies must be at least 1 (got {copies})")
    stream = OrderStream(seed)
    base = [stream.delivery(n) for n in _split(rows, deliveries)]
    scaled = [Delivery(d.name, [copy_line(line, c) for c in range(copies) for line in d.lines],
                       kinds=type(d.kinds)({k: v * copies for k, v in d.kinds.items()}))
              for d in base]
    _write(Path(out_dir), scaled)
    return {"generator": f"benchmarks.datagen v{GENERATOR_VERSION} x{copies}", "seed": seed, "rows": rows * copies,
            "copies": copies, **expected_counts(scaled)}
