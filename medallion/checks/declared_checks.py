"""Declared table checks: the ``checks:`` of silver and of each gold table, evaluated every run.

Each check is one aggregate Column; all checks of a table are evaluated in one ``df.agg(...)`` over
what the run produced (silver: the table after the MERGE; gold: the computed result before it is
written). Every result is appended to the Delta table ``{lakehouse_root}/_audit/checks`` (name, table,
run id, value observed, threshold, passed, action, checked_at), so quality is tracked over time; a
failed ``fail`` check raises :class:`ChecksFailed` (after the history is written).

Not to be confused with :mod:`medallion.checks.table_checks` (fixed post-run consistency checks of
``medallion check``, which also reports the latest declared results through :func:`latest_results`)
or :mod:`medallion.silver.expectations` (per-row rules inside silver).

Example:
    >>> records = run_checks(spark, df, gold.checks, table="gold/daily_revenue", history_path=env.checks_path,
    ...                      run=run, previous_rows=120, key="gold.0 (daily_revenue)")
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from medallion.audit.outcome import LayerOutcome, RunContext
from medallion.clock import as_utc
from medallion.config import EnvConfig, PipelineConfig
from medallion.config.gold import TableCheck
from medallion.delta_table import append_shared, latest_version
from medallion.errors import ConfigError, RunError, error_summary
from medallion.sql import column, rows_frame

__all__ = [
    "CheckRecord",
    "CHECKS_SCHEMA",
    "CHECK_COLUMNS",
    "ChecksFailed",
    "check_aggregates",
    "run_checks",
    "check_silver",
    "check_gold",
    "write_history",
    "latest_results",
    "read_latest",
]

log = logging.getLogger(__name__)

_ROWS = "__rows"


@dataclass(frozen=True)
class CheckRecord:
    """One check result: a row of ``_audit/checks``."""

    name: str
    table: str  # "layer/table"
    run_id: str
    kind: str
    observed: str | None
    threshold: str | None
    passed: bool
    action: str
    checked_at: datetime

    @property
    def failed_run(self) -> bool:
        """A failed ``fail`` check (the layer fails); a failed ``warn`` check is only recorded."""
        return not self.passed and self.action == "fail"

    def detail(self) -> str:
        verdict = "passed" if self.passed else ("FAILED" if self.action == "fail" else "failed (warn)")
        return f"{self.kind} {verdict}: observed {self.observed}, threshold {self.threshold} (run {self.run_id})"


_SQL_TYPES = {"str": "STRING", "bool": "BOOLEAN", "datetime": "TIMESTAMP", "str | None": "STRING"}
CHECKS_SCHEMA = ", ".join(f"`{f.name}` {_SQL_TYPES[str(f.type)]}" for f in fields(CheckRecord))
"""The DDL schema of ``_audit/checks``, derived from :class:`CheckRecord`."""
CHECK_COLUMNS = SimpleNamespace(**{f.name: f.name for f in fields(CheckRecord)})
"""The check history's column names as attributes (``CHECK_COLUMNS.passed``), derived from
:class:`CheckRecord`: readers elsewhere spell a column through this namespace, never as a literal."""


class ChecksFailed(RunError):
    """A declared ``fail`` check did not pass; ``records`` holds every result of the table's checks."""

    def __init__(self, message: str, *, records: Sequence[CheckRecord]) -> None:
        self.records = list(records)
        super().__init__(message)


# --------------------------------------------------------------------------- evaluation


def check_aggregates(checks: Sequence[TableCheck], *, now: datetime) -> list[Column]:
    """One aggregate Column per check (aliased ``c0``, ``c1``, ...) plus the row count, for one ``agg``."""
    out = [F.count(F.lit(1)).alias(_ROWS)]
    for i, check in enumerate(checks):
        alias = f"c{i}"
        if check.unique is not None:
            distinct = F.count_distinct(F.struct(*[column(c) for c in check.unique]))
            out.append((F.count(F.lit(1)) - distinct).alias(alias))
        elif check.not_null is not None:
            any_null = F.lit(False)
            for c in check.not_null:
                any_null = any_null | column(c).isNull()
            out.append(F.coalesce(F.sum(F.when(any_null, 1).otherwise(0)), F.lit(0)).alias(alias))
        elif check.freshness is not None:
            newest = F.max(column(check.freshness.column).cast("timestamp"))
            oldest_allowed = as_utc(now) - timedelta(seconds=check.freshness.max_age_seconds)
            out.append(F.struct(F.date_format(newest, "yyyy-MM-dd'T'HH:mm:ss").alias("value"),
                                F.coalesce(newest >= F.lit(oldest_allowed), F.lit(False)).alias("ok")).alias(alias))
        elif check.expr is not None:
            out.append(F.expr(check.expr).cast("boolean").alias(alias))
        else:  # min_rows and max_row_drop use the row count
            out.append(F.lit(None).alias(alias))
    return out


def _records(
    row: dict[str, Any], checks: Sequence[TableCheck], *, table: str, run: RunContext, previous_rows: int | None
) -> list[CheckRecord]:
    rows = int(row[_ROWS])
    out = []
    for i, check in enumerate(checks):
        value = row[f"c{i}"]
        threshold: Any
        if check.min_rows is not None:
            observed, threshold, passed = rows, check.min_rows, rows >= check.min_rows
        elif check.unique is not None or check.not_null is not None:
            observed, threshold, passed = int(value), 0, int(value) == 0
        elif check.freshness is not None:
            oldest = as_utc(run.now) - timedelta(seconds=check.freshness.max_age_seconds)
            observed, threshold, passed = value["value"], oldest.strftime("%Y-%m-%dT%H:%M:%S"), bool(value["ok"])
        elif check.max_row_drop is not None:
            drop = (previous_rows - rows) / previous_rows if previous_rows else 0.0
            observed = f"{max(drop, 0.0):.4f} ({previous_rows} -> {rows} rows)" if previous_rows is not None else "no previous version"
            threshold, passed = check.max_row_drop, drop <= check.max_row_drop
        else:
            observed, threshold, passed = value, check.expr, value is True
        out.append(CheckRecord(
            name=check.name, table=table, run_id=run.run_id, kind=check.kind,
            observed=None if observed is None else str(observed).lower() if isinstance(observed, bool) else str(observed),
            threshold=None if threshold is None else str(threshold), passed=bool(passed), action=check.action,
            checked_at=as_utc(run.now),
        ))
    return out


def run_checks(
    spark: SparkSession,
    df: DataFrame,
    checks: Sequence[TableCheck],
    *,
    table: str,
    history_path: str | None,
    run: RunContext,
    previous_rows: int | None,
    key: str,
) -> list[CheckRecord]:
    """Evaluate ``checks`` on ``df`` in one aggregation, append the results to the history, enforce them.

    Args:
        spark: the session.
        df: what the run produced.
        checks: the table's declared checks.
        table: ``layer/table``, recorded with each result.
        history_path: the ``_audit/checks`` table (None: do not record).
        run: the run id and clock (freshness is measured against ``run.now``).
        previous_rows: rows of the table's previous version (``max_row_drop``), None when there is none.
        key: the config key of the table, for errors (``silver``, ``gold.0 (daily_revenue)``).

    Returns:
        One record per check.

    Raises:
        ConfigError: a check names a column the table does not have, or its ``expr`` is not an aggregate.
        ChecksFailed: a ``fail`` check did not pass (the results are recorded first).
    """
    if not checks:
        return []
    try:
        row = df.agg(*check_aggregates(checks, now=run.now)).head()
    except AnalysisException as err:
        raise ConfigError(f"a check does not apply to {table}: {error_summary(err)}", key=f"{key}.checks") from err
    assert row is not None
    records = _records(row.asDict(), checks, table=table, run=run, previous_rows=previous_rows)
    if history_path is not None:
        write_history(spark, history_path, records)
    for r in records:
        (log.info if r.passed else log.warning)("check %s on %s: %s", r.name, table, r.detail())
    failed = [r for r in records if r.failed_run]
    if failed:
        listed = "; ".join(f"{r.name} ({r.kind}: observed {r.observed}, threshold {r.threshold})" for r in failed)
        raise ChecksFailed(f"{table}: fail check(s) did not pass: {listed}", records=records)
    return records


def _summary(records: Sequence[CheckRecord]) -> dict[str, Any]:
    return {r.name: {"passed": r.passed, "action": r.action, "observed": r.observed, "threshold": r.threshold}
            for r in records}


def check_silver(
    spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, run: RunContext, outcome: LayerOutcome
) -> LayerOutcome:
    """Silver's declared checks, on the table after the run's MERGE (or as it is, when the run had nothing new).

    Returns ``outcome`` with ``details["checks"]``; a failed ``fail`` check raises :class:`ChecksFailed`
    carrying it as ``partial`` (the MERGE is committed: the next run checks again).
    """
    silver = pipeline.silver
    if silver is None or not silver.checks:
        return outcome
    path = env.table_path("silver", silver.table)
    version = outcome.target_version if outcome.target_version is not None else latest_version(spark, path)
    if version < 0:
        return outcome
    df = spark.read.format("delta").option("versionAsOf", version).load(path)
    previous = _rows(spark, path, version - 1) if version > 0 else None
    try:
        records = run_checks(spark, df, silver.checks, table=f"silver/{silver.table}", history_path=env.checks_path,
                             run=run, previous_rows=previous, key="silver")
    except ChecksFailed as err:
        err.partial = replace(outcome, details={**outcome.details, "checks": _summary(err.records)})
        raise
    return replace(outcome, details={**outcome.details, "checks": _summary(records)})


def check_gold(
    spark: SparkSession, df: DataFrame, checks: Sequence[TableCheck], *, table: str, gold_path: str,
    history_path: str | None, run: RunContext, key: str,
) -> list[CheckRecord]:
    """A gold table's declared checks on its computed result ``df``, before it is written.

    ``max_row_drop`` compares with the table as it is (the version about to be replaced).
    """
    previous = _rows(spark, gold_path, None) if DeltaTable.isDeltaTable(spark, gold_path) else None
    return run_checks(spark, df, checks, table=table, history_path=history_path, run=run,
                      previous_rows=previous, key=key)


def _rows(spark: SparkSession, path: str, version: int | None) -> int:
    # An unfiltered count: Delta answers it from the log's file statistics.
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return int(reader.load(path).count())


# --------------------------------------------------------------------------- history


def write_history(spark: SparkSession, path: str, records: Sequence[CheckRecord]) -> None:
    """Append check results to ``_audit/checks`` (created on first use)."""
    if not records:
        return
    df = rows_frame(spark, [tuple(asdict(r).values()) for r in records], CHECKS_SCHEMA)
    append_shared(df, path, what="the check history")  # shared by every dataset: parallel runs race


def latest_results(spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig) -> list[CheckRecord]:
    """The latest result of every check the pipeline declares now, from ``_audit/checks``."""
    declared = {}
    if pipeline.silver is not None:
        declared.update({(f"silver/{pipeline.silver.table}", c.name): c for c in pipeline.silver.checks})
    for gold in pipeline.gold:
        declared.update({(f"gold/{gold.table}", c.name): c for c in gold.checks})
    found = {(r.table, r.name): r for r in read_latest(spark, env.checks_path, sorted({t for t, _ in declared}))}
    return [found[k] for k in declared if k in found]


def read_latest(spark: SparkSession, path: str, tables: Sequence[str]) -> list[CheckRecord]:
    """The newest result of every check recorded for ``tables`` (``layer/table``) in the check history
    at ``path`` (``[]`` when there is none): the one reader of ``_audit/checks``."""
    if not tables or not DeltaTable.isDeltaTable(spark, path):
        return []
    names = [f.name for f in fields(CheckRecord)]
    rows = (
        spark.read.format("delta").load(path)
        .where(F.col("table").isin(list(tables)))
        .groupBy("table", "name")
        .agg(F.max_by(F.struct(*names), F.struct("checked_at", "run_id")).alias("latest"))
        .collect()
    )
    return [CheckRecord(**r["latest"].asDict()) for r in rows]
