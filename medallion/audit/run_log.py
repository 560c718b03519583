"""The run log: one typed record per layer run in the Delta table ``{lakehouse_root}/_audit/runs``.

The runner turns each layer's :class:`~medallion.audit.outcome.LayerOutcome` into a :class:`RunRecord` and
appends it here whether the layer succeeded or failed, so a dashboard over the run log sees every
attempt and its counts. The table's schema is derived from :class:`RunRecord` (:data:`RUN_LOG_SCHEMA`),
and readers go through :func:`read_run_log` / :func:`layer_summaries`, never through column literals.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields, replace
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from medallion.audit.outcome import COUNT_FIELDS, LayerOutcome, RunContext, Status
from medallion.clock import as_utc
from medallion.logs import mask_secrets

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["RunRecord", "LayerSummary", "RUN_LOG_SCHEMA", "RUN_LOG_COLUMNS", "write_run_log", "read_run_log", "layer_summaries"]

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class RunRecord:
    """One row of the run log: a layer run's identity, its outcome's counts, and timing.

    The columns are this record's fields in order, with the outcome's counts and versions
    (:data:`~medallion.audit.outcome.COUNT_FIELDS`) flattened in after ``status``; a column's SQL type comes
    from its field's annotation (or its ``sql`` metadata where the table has a narrower type).
    """

    run_id: str
    pipeline: str
    environment: str
    layer: str
    table: str
    status: Status
    outcome: LayerOutcome = field(default_factory=LayerOutcome)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float | None = None
    error: str | None = None
    fingerprint: str | None = None  # the pipeline's configuration hash (medallion.observe.breaker); null in older logs

    @property
    def details(self) -> Mapping[str, Any]:
        return self.outcome.details

    @classmethod
    def of(
        cls,
        outcome: LayerOutcome,
        *,
        context: RunContext,
        pipeline: str,
        environment: str,
        layer: str,
        table: str,
        ended_at: datetime,
        error: str | None = None,
        tables_written: list[str] | None = None,
        fingerprint: str | None = None,
    ) -> RunRecord:
        """The record of one layer run from its outcome (status FAILED when ``error`` is given)."""
        if tables_written is not None:
            outcome = replace(outcome, details={**outcome.details, "tables_written": tables_written})
        return cls(
            run_id=context.run_id,
            pipeline=pipeline,
            environment=environment,
            layer=layer,
            table=table,
            status=Status.FAILED if error is not None else outcome.status,
            outcome=outcome,
            started_at=context.now,
            ended_at=ended_at,
            duration_seconds=(ended_at - context.now).total_seconds(),
            error=None if error is None else mask_secrets(error),  # the run log, JSON, summary, report
            fingerprint=fingerprint,
        )

    def columns(self) -> dict[str, Any]:
        """The record as ``{column: value}``, in run-log column order (JSON-ready but for timestamps)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "outcome":
                out.update({c.name: getattr(self.outcome, c.name) for c in COUNT_FIELDS})
            else:
                value = getattr(self, f.name)
                out[f.name] = str(value) if isinstance(value, Status) else value
        out["details"] = dict(self.outcome.details)
        return out

    def row(self) -> tuple[Any, ...]:
        """The record as a run-log row, in :data:`RUN_LOG_SCHEMA` order."""
        values = self.columns()
        values["details"] = json.dumps(values["details"], sort_keys=True, default=str)
        return tuple(as_utc(v) if isinstance(v, datetime) else v for v in values.values())


_SQL_TYPES = {"str": "STRING", "int": "BIGINT", "float": "DOUBLE", "datetime": "TIMESTAMP", "Status": "STRING"}


def _columns() -> list[tuple[str, str]]:
    """The run log's ``(column, SQL type)`` pairs, in table order."""
    def sql(f: Field[Any]) -> str:
        return f.metadata.get("sql") or _SQL_TYPES[str(f.type).split(" |")[0]]

    columns: list[tuple[str, str]] = []
    for f in fields(RunRecord):
        if f.name == "outcome":
            columns += [(c.name, sql(c)) for c in COUNT_FIELDS]
        else:
            columns.append((f.name, sql(f)))
    columns.append(("details", "STRING"))  # the outcome's details, as JSON text
    return columns


RUN_LOG_SCHEMA = ", ".join(f"`{name}` {kind}" for name, kind in _columns())
"""The run log's DDL schema, derived from :class:`RunRecord` and :class:`~medallion.audit.outcome.LayerOutcome`."""

RUN_LOG_COLUMNS = SimpleNamespace(**{name: name for name, _ in _columns()})
"""The run log's column names as attributes (``RUN_LOG_COLUMNS.started_at``): readers elsewhere spell a
column through this namespace, derived from :class:`RunRecord`, never as a string literal."""


def write_run_log(spark: SparkSession, path: str, records: list[RunRecord]) -> None:
    """Append records to the run log table (created on first use)."""
    if not records:
        return
    from medallion.delta_table import append_shared  # Spark and Delta are imported once a session exists
    from medallion.sql import rows_frame

    # mergeSchema: a run log written before a count was added to LayerOutcome gains its column.
    append_shared(rows_frame(spark, [r.row() for r in records], RUN_LOG_SCHEMA), path, what="the run log")
    log.info("run log: %d record(s) appended to %s", len(records), path)


def read_run_log(spark: SparkSession, path: str) -> DataFrame | None:
    """The run log as a DataFrame, or None when nothing was logged yet."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return None
    return spark.read.format("delta").load(path)


@dataclass(frozen=True)
class LayerSummary:
    """One layer's history in the run log: its latest record, and sums over the runs that committed."""

    latest: dict[str, Any]
    sum_out: int
    sum_quarantined: int


_LATEST = ("run_id", "status", "rows_in", "rows_out", "rows_quarantined", "rows_superseded", "rows_deleted", "error")


def layer_summaries(
    spark: SparkSession, path: str, *, pipeline: str, tables: dict[str, list[str] | None]
) -> dict[str, LayerSummary] | None:
    """Per layer of ``pipeline``: the latest record and sums over records that did not fail.

    Args:
        spark: the session.
        path: the run log table.
        pipeline: the pipeline (dataset) name.
        tables: per layer, the table names whose records count (None: every record of that layer).

    Returns:
        ``{layer: LayerSummary}``, or None when there is no run log.
    """
    from pyspark.sql import functions as F

    runs = read_run_log(spark, path)
    if runs is None:
        return None
    missing = [c for c in _LATEST if c not in runs.columns]  # a run log older than the column
    if missing:
        runs = runs.withColumns({c: F.lit(0).cast("bigint") for c in missing})
    layer, table = F.col("layer"), F.col("table")
    mine = F.lit(False)
    for name, names in tables.items():
        selected = layer == F.lit(name)
        if names is not None:
            selected = selected & table.isin(names)
        mine = mine | selected
    committed = F.col("status") != F.lit(str(Status.FAILED))
    rows = (
        runs.where((F.col("pipeline") == F.lit(pipeline)) & mine)
        .groupBy("layer")
        .agg(
            F.max_by(F.struct(*_LATEST), F.struct("started_at", "ended_at")).alias("latest"),
            F.coalesce(F.sum(F.when(committed, F.col("rows_out"))), F.lit(0)).alias("sum_out"),
            F.coalesce(F.sum(F.when(committed, F.col("rows_quarantined"))), F.lit(0)).alias("sum_quarantined"),
        )
        .collect()
    )
    return {
        r["layer"]: LayerSummary(r["latest"].asDict(), int(r["sum_out"]), int(r["sum_quarantined"])) for r in rows
    }
