"""Post-run table checks over a pipeline's tables and its run log (``medallion check``).

The checks read what the layers left behind and say whether it is consistent:

* every table the pipeline declares exists as a Delta table (the dead-letter table may be absent
  while the run log says nothing was ever quarantined: silver creates it on the first quarantined row);
* silver holds exactly one row per key and no null key;
* the latest run-log record of each layer did not fail, and its counts add up (the layer's accounting
  identity, :func:`medallion.audit.accounting.accounting_identity`);
* over the whole run log, bronze ``rows_out`` sums to the rows in bronze (nothing disappeared) and
  silver ``rows_quarantined`` sums to the rows in the dead-letter table (failed runs excluded: they
  committed nothing);
* every dead-letter row names at least one failed rule;
* gold tables are non-empty when silver is not.

Each table is read once, by one aggregation (Delta answers a plain count from file statistics); the
run log is reduced to one row per layer. Results are returned, not raised: the caller decides.

Example:
    >>> results = run_checks(spark, env, pipeline)
    >>> print(format_results(results))
    >>> all(r.passed for r in results)
"""
from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from medallion.audit.accounting import accounting_identity
from medallion.audit.outcome import Status
from medallion.audit.run_log import RUN_LOG_COLUMNS as RUN
from medallion.audit.run_log import LayerSummary, layer_summaries
from medallion.columns import FAILED_RULES, VALID_FROM
from medallion.config import EnvConfig, PipelineConfig
from medallion.layers import layers_for
from medallion.sql import column

__all__ = ["CheckResult", "run_checks", "format_results"]

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: its name, whether it passed, and what was found."""

    name: str
    passed: bool
    detail: str


def run_checks(
    spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, layers: Collection[str] | None = None
) -> list[CheckResult]:
    """Run every post-run check of ``pipeline`` in ``env`` (see the module docstring).

    Args:
        spark: the session.
        env: where the tables and the run log live.
        pipeline: the pipeline whose tables are checked.
        layers: check only these layers' tables and run-log records (the layers a BronzeOnly /
            SilverOnly / GoldOnly run ran); default every layer the pipeline declares.

    Returns:
        One result per check, in a stable order: existence, silver keys, run log, dead letters, gold.
    """
    ran = set(layers_for(pipeline, "all")) if layers is None else set(layers) & set(layers_for(pipeline, "all"))
    tables = {name: path for name, path in pipeline.tables(env).items() if name.split("/", 1)[0] in ran}
    exists = {name: DeltaTable.isDeltaTable(spark, path) for name, path in tables.items()}
    runs = _run_log_summary(spark, env, pipeline)
    logged_quarantined = runs["silver"].sum_quarantined if runs is not None and "silver" in runs else 0
    results: list[CheckResult] = []

    dlq_name = f"silver/{pipeline.silver.dlq}" if "silver" in ran and pipeline.silver is not None else None
    for name, path in tables.items():
        if exists[name]:
            results.append(CheckResult(f"exists:{name}", True, f"Delta table at {path}"))
        elif name == dlq_name and runs is not None and not logged_quarantined:
            results.append(CheckResult(f"exists:{name}", True, "not created yet: the run log records no quarantined row"))
        elif pipeline.silver is not None and name in {f"silver/{t}" for t in pipeline.silver.side_tables}:
            results.append(CheckResult(f"exists:{name}", True, "not created yet: created by the first run that needs it"))
        else:
            results.append(CheckResult(f"exists:{name}", False, f"no Delta table at {path}"))

    bronze_name = f"bronze/{pipeline.bronze.table}"
    bronze_rows = _count(spark, tables[bronze_name]) if exists.get(bronze_name) else None

    silver_rows: int | None = None
    if pipeline.silver is not None:
        silver_name = f"silver/{pipeline.silver.table}"
        if exists.get(silver_name):
            # history: scd2 keeps one row per version of a key, each starting at its own _valid_from
            keys = [*pipeline.silver.keys, VALID_FROM] if pipeline.silver.history == "scd2" else pipeline.silver.keys
            check, silver_rows = _silver_keys(spark, tables[silver_name], silver_name, keys)
            results.append(check)
        elif "gold" in ran and "silver" not in ran:  # GoldOnly: silver is its input, read as it is
            silver_path = pipeline.tables(env)[silver_name]
            silver_rows = _count(spark, silver_path) if DeltaTable.isDeltaTable(spark, silver_path) else None

    if runs is None:
        results.append(CheckResult("run_log", False, f"no run log at {env.run_log_path}"))
    else:
        results.extend(_latest_runs(pipeline, runs, ran))
        if bronze_rows is not None:
            logged = runs["bronze"].sum_out if "bronze" in runs else 0
            results.append(
                CheckResult(
                    "bronze_rows_logged",
                    bronze_rows == logged,
                    f"{bronze_name} holds {bronze_rows} rows; the run log's bronze rows_out sum to {logged}",
                )
            )

    if dlq_name is not None and exists[dlq_name]:
        dlq_rows, unexplained = _dlq_summary(spark, tables[dlq_name])
        if runs is not None:
            results.append(
                CheckResult(
                    "dlq_rows_logged",
                    dlq_rows == logged_quarantined,
                    f"{dlq_name} holds {dlq_rows} rows; the run log's silver rows_quarantined sum to "
                    f"{logged_quarantined}",
                )
            )
        results.append(
            CheckResult(
                "dlq_failed_rules",
                unexplained == 0,
                f"{dlq_name}: {unexplained} of {dlq_rows} rows have no {FAILED_RULES}",
            )
        )

    for gold in pipeline.gold if "gold" in ran else []:
        gold_name = f"gold/{gold.table}"
        if not exists[gold_name] or silver_rows is None:
            continue
        has_rows = bool(spark.read.format("delta").load(tables[gold_name]).head(1))
        passed = has_rows or silver_rows == 0
        detail = (
            f"{gold_name} has rows" if has_rows else f"{gold_name} is empty while silver holds {silver_rows} rows"
        )
        results.append(CheckResult(f"gold_non_empty:{gold_name}", passed, detail))

    for r in results:
        if r.passed:
            log.info("check %s passed: %s", r.name, r.detail)
        else:
            log.warning("check %s FAILED: %s", r.name, r.detail)
    return results


def _count(spark: SparkSession, path: str) -> int:
    # An unfiltered count: Delta answers it from the log's file statistics.
    return int(spark.read.format("delta").load(path).count())


def _silver_keys(spark: SparkSession, path: str, name: str, keys: list[str]) -> tuple[CheckResult, int]:
    """One aggregation: rows, distinct non-null keys, rows with a null key part."""
    any_null: Column = F.lit(False)
    for key in keys:
        any_null = any_null | column(key).isNull()
    row = spark.read.format("delta").load(path).agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct(*[column(k) for k in keys]).alias("keys"),
        F.coalesce(F.sum(F.when(any_null, 1).otherwise(0)), F.lit(0)).alias("null_keys"),
    ).head()
    assert row is not None
    rows, distinct, null_keys = int(row["rows"]), int(row["keys"]), int(row["null_keys"])
    duplicates = rows - null_keys - distinct
    detail = (
        f"{name}: {rows} rows, {distinct} distinct keys {keys}, "
        f"{duplicates} duplicate row(s), {null_keys} row(s) with a null key"
    )
    return CheckResult("silver_unique_keys", duplicates == 0 and null_keys == 0, detail), rows


def _dlq_summary(spark: SparkSession, path: str) -> tuple[int, int]:
    """Rows of the dead-letter table and those without a failed rule, in one aggregation."""
    rules = F.col(FAILED_RULES)
    row = spark.read.format("delta").load(path).agg(
        F.count(F.lit(1)).alias("rows"),
        F.coalesce(F.sum(F.when(rules.isNull() | (F.size(rules) < 1), 1).otherwise(0)), F.lit(0)).alias("bad"),
    ).head()
    assert row is not None
    return int(row["rows"]), int(row["bad"])


def _run_log_summary(spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig) -> dict[str, LayerSummary] | None:
    """Per layer of this pipeline: the latest record and the sums over records that did not fail.

    ``None`` when there is no run log. Bronze and silver records count only for the tables this
    pipeline now declares; gold records are this pipeline's whatever their table list.
    """
    tables: dict[str, list[str] | None] = {"bronze": [pipeline.bronze.table], "gold": None}
    if pipeline.silver is not None:
        tables["silver"] = [pipeline.silver.table]
    return layer_summaries(spark, env.run_log_path, pipeline=pipeline.dataset, tables=tables)


def _latest_runs(pipeline: PipelineConfig, runs: dict[str, LayerSummary], ran: set[str]) -> list[CheckResult]:
    out = []
    for layer in (name for name in layers_for(pipeline, "all") if name in ran):
        name = f"last_run:{layer}"
        if layer not in runs:
            out.append(CheckResult(name, False, f"the run log has no {layer} record for pipeline {pipeline.dataset}"))
            continue
        r = runs[layer].latest
        if r[RUN.status] == Status.FAILED:
            out.append(CheckResult(name, False, f"run {r[RUN.run_id]} failed: {r[RUN.error] or 'no error recorded'}"))
            continue
        identity = accounting_identity(layer, r[RUN.status], r)
        out.append(CheckResult(name, identity.holds, f"run {r[RUN.run_id]} {r[RUN.status]}: {identity.formula}"))
    return out


def format_results(results: list[CheckResult]) -> str:
    """A short fixed-width table of the results, then a one-line verdict.

    Example:
        >>> print(format_results([CheckResult("silver_unique_keys", True, "silver/orders: 3 rows")]))
        check               result  detail
        silver_unique_keys  PASS    silver/orders: 3 rows
        1 check(s): all passed
    """
    rows = [("check", "result", "detail")] + [(r.name, "PASS" if r.passed else "FAIL", r.detail) for r in results]
    width = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{n.ljust(width[0])}  {s.ljust(width[1])}  {d}".rstrip() for n, s, d in rows]
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results)} check(s): " + (f"{failed} FAILED" if failed else "all passed"))
    return "\n".join(lines)
