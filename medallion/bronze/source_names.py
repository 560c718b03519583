"""How a source key becomes a bronze column name: deterministic, recorded, and never losing a value.

Delta resolves column names case-insensitively and refuses some characters in them; medallion owns the
``_`` namespace. So a source key keeps its exact name when it can, and is otherwise renamed by these
rules, applied in order:

1. A key already recorded for a bronze column (see below) goes to that column again.
2. A key in medallion's reserved namespace (leading ``_``, e.g. ``_run_id``) is prefixed: ``_src__run_id``.
3. Characters Delta refuses in a name (space ``,;{}()=``, tab, newline) become ``_``: ``order id`` ->
   ``order_id``.
4. If the name is then taken, ignoring case, by another column (of the table, or claimed earlier in this
   delivery), ``__`` + the first 8 hex digits of the key's SHA-256 are appended: ``Amount`` next to
   ``amount`` -> ``Amount__<hash>``. Keys that need no change claim their names first, in code-point
   order.

A renamed column records its source key in its Delta column metadata (``medallion.source_name``), so the
next delivery's ``Amount`` lands in the same column, and any reader can map a column back to its key.

Example:
    >>> assign_names(["amount", "Amount", "order id", "_run_id"], existing={})
    {'Amount': 'Amount', 'amount': 'amount__cf38d95c', '_run_id': '_src__run_id', 'order id': 'order_id'}
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

from pyspark.sql.types import StructType

from medallion.columns import reserved

__all__ = ["SOURCE_NAME_KEY", "RENAMED_PREFIX", "assign_names", "recorded_sources"]

#: The Delta column-metadata key holding the source key of a renamed column.
SOURCE_NAME_KEY = "medallion.source_name"
#: The prefix given to source keys in medallion's reserved namespace.
RENAMED_PREFIX = "_src_"

_DELTA_ILLEGAL = re.compile(r"[ ,;{}()\n\t=]")


def _clean(key: str) -> str:
    name = _DELTA_ILLEGAL.sub("_", key)
    if reserved([name]) or not name:
        name = RENAMED_PREFIX + name
    return name


def _suffixed(key: str, base: str, taken: set[str]) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    for width in (8, 16, 64):
        name = f"{base}__{digest[:width]}"
        if name.lower() not in taken:
            return name
    raise ValueError(f"cannot find a free column name for source key {key!r}")  # pragma: no cover


def recorded_sources(schema: StructType | None, audit: Iterable[str]) -> dict[str, str]:
    """Bronze column -> the source key it holds, from a bronze table's schema (audit columns excluded).

    A column without a recorded source name holds the key of its own name.
    """
    if schema is None:
        return {}
    skip = set(audit)
    return {f.name: str(f.metadata.get(SOURCE_NAME_KEY, f.name)) for f in schema.fields if f.name not in skip}


def assign_names(keys: Iterable[str], existing: Mapping[str, str], *, taken: Iterable[str] = ()) -> dict[str, str]:
    """The bronze column of every source key in ``keys`` (see the module docstring for the rules).

    Args:
        keys: the source keys of one delivery (case-sensitive, exact).
        existing: bronze column -> source key, for the bronze table's source columns
            (:func:`recorded_sources`).
        taken: further names no source key may take (bronze's audit columns).

    Returns:
        Every key of ``keys`` mapped to its column name; a key maps to itself when it needs no change.
    """
    by_source = {src: col for col, src in existing.items()}
    claimed = {c.lower() for c in existing} | {t.lower() for t in taken}
    out: dict[str, str] = {}
    for key in sorted(set(keys), key=lambda k: (_clean(k) != k, k)):
        if key in by_source:
            out[key] = by_source[key]
            continue
        base = _clean(key)
        name = base if base.lower() not in claimed else _suffixed(key, base, claimed)
        claimed.add(name.lower())
        out[key] = name
    return out
