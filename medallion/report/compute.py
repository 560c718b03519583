"""The report's computations: pure functions that turn rows into the page's model.

Nothing here touches Spark. :mod:`medallion.report.gather` reads the run log, the dead-letter
table, the check results, the quarantined-file records and bronze's Delta log into plain rows
(dicts); the functions below turn those rows into the dataclasses of :mod:`medallion.report.model`:
the latest run per layer, the flow bronze -> silver (+ dead letters) -> gold, trends over the last
runs, schema drift events, dead letters by rule and status, check results and failed runs, plus the
display text of a value (secrets masked, cut). Every function is deterministic and unit-testable on
hand-made rows or on rows read back from real runs.

Example:
    >>> runs = [LayerRun.from_row(r) for r in run_log_rows]
    >>> latest = latest_per_layer(runs)
    >>> latest["silver"].identity.state
    'holds'
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from medallion.clock import as_utc
from medallion.columns import CORRUPT_RECORD, FAILED_RULES, QUARANTINE_RUN_ID, RESERVED_PREFIX, SOURCE_FILE
from medallion.config import LAYERS
from medallion.logs import mask_secrets
from medallion.report.model import (
    CheckRow,
    DriftEvent,
    FailedRun,
    Flow,
    FlowEdge,
    FlowNode,
    LayerRun,
    Trends,
    _int,
    _order,
)

if TYPE_CHECKING:
    from medallion.checks.declared_checks import CheckRecord

__all__ = [
    "drift_events",
    "failed_runs",
    "flow",
    "check_rows",
    "latest_per_layer",
    "safe_text",
    "sample_values",
    "short_path",
    "schema_columns",
    "trends",
]

#: Longest value shown in a sample cell or error message before it is cut (the rest is in the table).
MAX_CELL = 160
MAX_ERROR = 2000


def safe_text(value: Any, limit: int = MAX_CELL) -> str:
    """``value`` as display text: secrets masked, cut to ``limit`` characters (HTML escaping is the
    template's job: Jinja2 autoescapes every value)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")
    elif isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    text = mask_secrets(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- the run log


def latest_per_layer(runs: Iterable[LayerRun]) -> dict[str, LayerRun]:
    """The newest record of each layer, in layer order (bronze, silver, gold, then any other)."""
    latest: dict[str, LayerRun] = {}
    for run in runs:
        if run.layer not in latest or _order(run) > _order(latest[run.layer]):
            latest[run.layer] = run
    ranked = sorted(latest, key=lambda name: (LAYERS.index(name) if name in LAYERS else 9, name))
    return {name: latest[name] for name in ranked}


# --------------------------------------------------------------------------- flow graph


def flow(
    *,
    bronze_table: str,
    silver_table: str | None,
    dlq_table: str | None,
    gold_tables: Sequence[str],
    latest: Mapping[str, LayerRun],
) -> Flow:
    """The pipeline's tables as a left-to-right graph, edges labelled with the latest run's counts.

    landing -> bronze (records read, corrupt), bronze -> silver (merged, superseded), bronze -> dead
    letters (quarantined), silver -> each gold table (rows written).
    """
    bronze, silver, gold = latest.get("bronze"), latest.get("silver"), latest.get("gold")

    def status(run: LayerRun | None) -> str:
        return run.status if run else "never run"

    nodes = [
        FlowNode("landing", "landing files", "landing", status(bronze), 0, 100),
        FlowNode(f"bronze/{bronze_table}", f"bronze/{bronze_table}", "bronze", status(bronze), 300, 100),
    ]
    edges = [
        _counted_edge("landing", f"bronze/{bronze_table}", bronze, "rows_in", "rows",
                      f"{bronze.files_ingested} file(s)" if bronze else "",
                      f"{bronze.rows_corrupt:,} corrupt" if bronze and bronze.rows_corrupt else ""),
    ]
    if silver_table is not None:
        nodes.append(FlowNode(f"silver/{silver_table}", f"silver/{silver_table}", "silver", status(silver), 600, 100))
        edges.append(
            _counted_edge(f"bronze/{bronze_table}", f"silver/{silver_table}", silver, "rows_out", "merged",
                          f"{silver.rows_superseded:,} superseded" if silver and silver.rows_superseded else "")
        )
        if dlq_table is not None:
            nodes.append(FlowNode(f"silver/{dlq_table}", f"dead letters\nsilver/{dlq_table}", "dead_letters", status(silver), 600, 210))
            edges.append(
                _counted_edge(f"bronze/{bronze_table}", f"silver/{dlq_table}", silver, "rows_quarantined", "quarantined")
            )
    per_table = (gold.details.get("tables") or {}) if gold else {}
    n = len(gold_tables)
    for i, name in enumerate(gold_tables):
        metrics = per_table.get(name) or {}
        rows = _int(metrics.get("rows_out")) if metrics else (gold.rows_out if gold and n == 1 else 0)
        mode = metrics.get("mode")
        y = 100 + (i - (n - 1) / 2) * 110
        nodes.append(FlowNode(f"gold/{name}", f"gold/{name}", "gold", status(gold), 900, int(y)))
        label = _lines(f"{rows:,} rows", f"({mode})" if mode else "")
        if silver_table is not None:
            edges.append(FlowEdge(f"silver/{silver_table}", f"gold/{name}", rows, label))
    return Flow(nodes, edges)


def _lines(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


def _counted_edge(source: str, target: str, run: LayerRun | None, count: str, noun: str, *notes: str) -> FlowEdge:
    """An edge carrying the run's ``count`` (0 when the layer never ran), labelled ``{n:,} {noun}`` and the notes."""
    rows = getattr(run, count) if run else 0
    return FlowEdge(source, target, rows, _lines(f"{rows:,} {noun}", *notes))


# --------------------------------------------------------------------------- trends


def _run_order(runs: Iterable[LayerRun]) -> list[str]:
    first: dict[str, tuple[datetime, str]] = {}
    for run in runs:
        key = _order(run)
        if run.run_id not in first or key < first[run.run_id]:
            first[run.run_id] = key
    return sorted(first, key=lambda rid: first[rid])


def trends(runs: Sequence[LayerRun], *, last: int, expectations: Sequence[str] = ()) -> Trends:
    """Series over the last ``last`` runs (by start time).

    Args:
        runs: run-log records of one pipeline.
        last: how many runs to keep.
        expectations: the pipeline's expectation names, in declaration order (rules seen only in the
            run log's details follow them).
    """
    order = _run_order(runs)[-last:] if last > 0 else []
    by_run: dict[str, dict[str, LayerRun]] = {rid: {} for rid in order}
    for run in runs:
        if run.run_id in by_run:
            by_run[run.run_id][run.layer] = run

    def series(layer: str, attr: str) -> list[Any]:
        return [getattr(by_run[rid][layer], attr) if layer in by_run[rid] else None for rid in order]

    rows = {
        "bronze rows in": series("bronze", "rows_in"),
        "silver merged": series("silver", "rows_out"),
        "dead-lettered": series("silver", "rows_quarantined"),
        "gold rows written": series("gold", "rows_out"),
    }
    duration = {layer: [_round(v) for v in series(layer, "duration_seconds")] for layer in LAYERS}
    rules = list(expectations)
    for rid in order:
        silver = by_run[rid].get("silver")
        for name in (silver.details.get("expectations") or {}) if silver else {}:
            if name not in rules:
                rules.append(name)
    rate: dict[str, list[float | None]] = {name: [] for name in rules}
    for rid in order:
        silver = by_run[rid].get("silver")
        counts = (silver.details.get("expectations") or {}) if silver else {}
        for name in rules:
            if silver is None or silver.rows_in == 0 or name not in counts:
                rate[name].append(None)
            else:
                rate[name].append(round(100.0 * _int(counts[name]) / silver.rows_in, 3))
    statuses = []
    labels = []
    for rid in order:
        layers = by_run[rid].values()
        statuses.append("failed" if any(r.status == "failed" for r in layers) else
                        "skipped" if all(r.status in ("skipped", "blocked") for r in layers) else "succeeded")
        start = min((r.started_at for r in layers if r.started_at), default=None)
        labels.append(start.strftime("%m-%d %H:%M") if start else rid)
    return Trends(order, labels, statuses, rows, duration, rate)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# --------------------------------------------------------------------------- failed runs


def failed_runs(runs: Iterable[LayerRun]) -> list[FailedRun]:
    """Every failed layer run, newest first, with its error message (secrets masked, cut)."""
    failed = sorted((r for r in runs if r.status == "failed"), key=_order, reverse=True)
    return [
        FailedRun(r.run_id, r.layer, r.table, safe_text(r.started_at), safe_text(r.error or "(no message)", MAX_ERROR))
        for r in failed
    ]


# --------------------------------------------------------------------------- schema drift


def schema_columns(schema_json: str) -> list[str]:
    """Top-level column names of a Delta ``schemaString`` (Spark's StructType JSON)."""
    return [f["name"] for f in json.loads(schema_json).get("fields", [])]


def drift_events(
    schemas: Sequence[tuple[int, list[str]]], commits: Mapping[int, Mapping[str, Any]]
) -> list[DriftEvent]:
    """Columns added to a table, one event per commit that added any, oldest first.

    Args:
        schemas: ``(version, column names)`` of each commit that wrote a schema (Delta ``metaData``
            action); the first one is the baseline (table creation, or the oldest kept log entry).
        commits: per version, ``{"run_id": ..., "at": datetime}`` from the commit's info.
    """
    events = []
    ordered = sorted(schemas)
    for (_, before), (version, after) in zip(ordered, ordered[1:], strict=False):
        known = set(before)
        added = [c for c in after if c not in known]
        if added:
            info = commits.get(version, {})
            events.append(DriftEvent(version, safe_text(info.get("at")), info.get("run_id"), added))
    return events


# --------------------------------------------------------------------------- dead letters, checks, files


def short_path(path: str) -> str:
    """A file's name with its parent folder (full paths are in the tables and the run log)."""
    parts = re.split(r"[/\\]", str(path).rstrip("/"))
    return "/".join(parts[-2:])


def sample_values(row: Mapping[str, Any], *, limit: int = 12) -> list[tuple[str, str]]:
    """A dead-letter row as ``(column, display text)`` pairs: the source columns that hold a value,
    then the raw record if it was corrupt, the reasons and where the row came from; at most ``limit``
    pairs; values masked and cut."""
    tail = (FAILED_RULES, SOURCE_FILE, QUARANTINE_RUN_ID)
    cols = [c for c in row if not c.startswith(RESERVED_PREFIX) and row[c] is not None]
    if row.get(CORRUPT_RECORD) is not None:
        cols.insert(0, CORRUPT_RECORD)
    picked = cols[: max(limit - len(tail), 1)] + [c for c in tail if row.get(c) is not None]
    return [(c, safe_text(short_path(row[c]) if c == SOURCE_FILE else row[c])) for c in picked]


def check_rows(records: Iterable[CheckRecord]) -> list[CheckRow]:
    """The page's rows for the newest result of each check (read by
    :func:`medallion.checks.declared_checks.read_latest`), failures first."""
    out = [
        CheckRow(name=safe_text(r.name), table=safe_text(r.table), run_id=safe_text(r.run_id),
                 observed=safe_text(r.observed), threshold=safe_text(r.threshold), passed=bool(r.passed))
        for r in records
    ]
    return sorted(out, key=lambda c: (c.passed, c.table, c.name))

