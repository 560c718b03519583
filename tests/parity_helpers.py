"""The bundled sample's tables as plain, runtime-independent data, for the Spark 3.5 / Spark 4 parity test.

A snapshot keeps every table under the lakehouse (the run logs under ``_audit`` aside: they hold durations),
its columns with their Spark types, and its rows sorted, with what differs from run to run taken out:
timestamps and dates the run stamps (``_``-prefixed timestamp and date columns), run ids, and the project's own path.
"""
from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

__all__ = ["snapshot", "tables_under", "FULL_ROWS"]

FULL_ROWS = 300


def tables_under(lake: Path) -> list[str]:
    """Every Delta table below ``lake`` (but ``_audit``), as paths relative to it."""
    found = [log.parent.relative_to(lake).as_posix() for log in lake.rglob("_delta_log")]
    return sorted(t for t in found if not t.startswith("_audit"))


def _volatile(name: str, kind: str) -> bool:
    # the run stamps these: run ids, audit timestamps, the processing date (the day the run ingested)
    return "run_id" in name or (name.startswith("_") and kind.split("(")[0] in ("timestamp", "timestamp_ntz", "date"))


def _plain(value: Any, project: str) -> Any:
    if isinstance(value, Decimal | float | int | bool) or value is None:
        return str(value) if isinstance(value, Decimal) else value
    if isinstance(value, list | tuple):
        return [_plain(v, project) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, project) for k, v in sorted(value.items())}
    if hasattr(value, "asDict"):
        return _plain(value.asDict(), project)
    return str(value).replace(project, "<project>")


def snapshot(spark: SparkSession, lake: Path, project: Path) -> dict[str, Any]:
    """``{table: {"columns": [[name, type]...], "rows": [...]}}`` for every table under ``lake``."""
    out: dict[str, Any] = {}
    for table in tables_under(lake):
        df = spark.read.format("delta").load(str(lake / table))
        kept = [(f.name, f.dataType.simpleString()) for f in df.schema.fields if not _volatile(f.name, f.dataType.simpleString())]
        rows = [_plain([row[name] for name, _ in kept], str(project.resolve())) for row in df.select(*[n for n, _ in kept]).collect()]
        rows = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
        text = json.dumps(rows, sort_keys=True, default=str)
        # small tables (gold, dead letters) in full, to read in a diff; big ones by count and digest
        out[table] = {"columns": [list(c) for c in kept], "count": len(rows),
                      "rows": rows if len(rows) <= FULL_ROWS else hashlib.sha256(text.encode()).hexdigest()}
    return out
