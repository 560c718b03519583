"""Dead-letter operations (``medallion dlq``): inspect, discard and replay dead letters.

Every dead-letter row has a status (``pending`` / ``replayed`` / ``discarded``; the row layout and the
status columns are silver's, :mod:`medallion.silver.dead_letters`). Nothing is ever deleted: commands
only change a row's status (and, for a replay, its reasons).

* :func:`inspect` groups the dead letters by rule and by run, with status counts and sample rows.
* :func:`discard` marks the selected pending rows discarded (never replayed afterwards).
* :func:`replay` (module :mod:`medallion.dlq.replay`) re-evaluates pending rows under the current
  config and merges the ones that pass into silver, exactly once.

Both writing commands commit to the dead-letter table as idempotent transactions of one app id
(:func:`app_id`), which is also how an interrupted replay is recognised (see :mod:`medallion.dlq.replay`).
"""
from __future__ import annotations

import getpass
import logging
import os
from dataclasses import dataclass
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from medallion import observe
from medallion.audit.outcome import LayerOutcome, RunContext, Status
from medallion.audit.run_log import RunRecord, write_run_log
from medallion.clock import as_utc, utc_now
from medallion.columns import (
    BRONZE_VERSION,
    CORRUPT_RECORD,
    DLQ_DISCARD_REASON,
    DLQ_DISCARDED_BY,
    DLQ_STATUS,
    DLQ_STATUS_AT,
    DLQ_STATUS_RUN_ID,
    FAILED_RULES,
    QUARANTINE_RUN_ID,
    QUARANTINED_AT,
    reserved,
)
from medallion.config import EnvConfig, PipelineConfig, SilverConfig
from medallion.delta_table import CommitTag, committed_txn_version, find_commit, idempotent_commit, latest_version
from medallion.errors import ConfigError, MedallionError, RunError
from medallion.silver.dead_letters import DlqStatus, migrate_status, status_of, with_status_columns
from medallion.sql import column, jsonable

__all__ = [
    "Selection",
    "TxnState",
    "app_id",
    "paths",
    "txn_state",
    "inspect",
    "format_inspection",
    "discard",
    "log_run",
    "current_user",
]

log = logging.getLogger(__name__)

def app_id(silver: SilverConfig) -> str:
    """The idempotent-writer id of ``medallion dlq`` commits (to the dead-letter table and to silver)."""
    return f"medallion.dlq.{silver.dlq}"


def paths(env: EnvConfig, pipeline: PipelineConfig) -> tuple[SilverConfig, str, str]:
    """``(silver config, silver table path, dead-letter table path)``.

    Raises:
        ConfigError: the pipeline declares no silver section (so it has no dead letters).
    """
    if pipeline.silver is None:
        raise ConfigError("the pipeline declares no silver section, so it has no dead-letter table", key="silver")
    silver = pipeline.silver
    return silver, env.table_path("silver", silver.table), env.table_path("silver", silver.dlq)


@dataclass(frozen=True)
class Selection:
    """Which dead letters a command acts on: pending rows, optionally of one rule and/or one run."""

    rule: str | None = None
    run_id: str | None = None  # the silver run that quarantined the rows

    def condition(self) -> Column:
        cond = status_of() == F.lit(str(DlqStatus.PENDING))
        if self.rule is not None:
            cond = cond & F.array_contains(F.col(FAILED_RULES), self.rule)
        if self.run_id is not None:
            cond = cond & (F.col(QUARANTINE_RUN_ID) == F.lit(self.run_id))
        return cond

    def describe(self) -> str:
        parts = [f"rule {self.rule}" if self.rule else "", f"quarantine run {self.run_id}" if self.run_id else ""]
        return "pending rows" + "".join(f", {p}" for p in parts if p)


@dataclass(frozen=True)
class TxnState:
    """The last ``medallion dlq`` transaction committed to silver and to the dead-letter table.

    A replay commits silver first, then the dead-letter table, with the same transaction version: when
    silver is ahead, a replay was interrupted between its two writes (:attr:`interrupted`).
    """

    silver: int
    dlq: int

    @property
    def interrupted(self) -> bool:
        return self.silver > self.dlq

    @property
    def next(self) -> int:
        return max(self.silver, self.dlq) + 1


def txn_state(spark: SparkSession, silver: SilverConfig, silver_path: str, dlq_path: str) -> TxnState:
    """Read both tables' transaction watermarks for :func:`app_id` (-1: none yet)."""
    writer = app_id(silver)
    s = committed_txn_version(spark, silver_path, writer)
    d = committed_txn_version(spark, dlq_path, writer)
    return TxnState(-1 if s is None else s, -1 if d is None else d)


def current_user() -> str:
    """Who runs a command: ``$MEDALLION_USER`` (e.g. set by a pipeline), else the OS user."""
    try:
        return os.environ.get("MEDALLION_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def read_dead_letters(spark: SparkSession, path: str, *, version: int | None = None) -> DataFrame | None:
    """The dead-letter table (at ``version``) with every status column, or None when it does not exist."""
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return with_status_columns(reader.load(path))


# --------------------------------------------------------------------------- inspect


def inspect(spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, *, samples: int = 3) -> dict[str, Any]:
    """The dead letters grouped by rule and by quarantine run, with status counts and sample rows.

    A row failing two rules counts under both; ``rows`` / ``status`` count each row once.

    Returns:
        ``{"table", "path", "exists", "rows", "status": {status: n}, "rules": [{"rule", "rows",
        "pending", "replayed", "discarded", "runs": [{"run_id", "quarantined_at", "rows", ...}],
        "samples": [{column: value}]}]}``
    """
    silver, _, dlq_path = paths(env, pipeline)
    out: dict[str, Any] = {"table": f"silver/{silver.dlq}", "path": dlq_path, "exists": False, "rows": 0,
                           "status": {str(s): 0 for s in DlqStatus}, "rules": []}
    dead = read_dead_letters(spark, dlq_path)
    if dead is None:
        return out
    out["exists"] = True
    status = status_of()
    per_status = [F.sum(F.when(status == F.lit(str(s)), 1).otherwise(0)).alias(str(s)) for s in DlqStatus]
    exploded = dead.select("*", F.explode_outer(FAILED_RULES).alias("rule"))
    by_run = (
        exploded.groupBy("rule", QUARANTINE_RUN_ID)
        .agg(F.count(F.lit(1)).alias("rows"), F.min(QUARANTINED_AT).alias("quarantined_at"), *per_status)
        .collect()
    )
    total = dead.agg(F.count(F.lit(1)).alias("rows"), *per_status).head()
    assert total is not None
    out["rows"] = int(total["rows"])
    out["status"] = {str(s): int(total[str(s)] or 0) for s in DlqStatus}

    shown = [c for c in dead.columns if not reserved([c])] + [CORRUPT_RECORD, FAILED_RULES, QUARANTINE_RUN_ID, DLQ_STATUS]
    shown = [c for c in dict.fromkeys(shown) if c in dead.columns]
    window = Window.partitionBy("rule").orderBy(
        F.when(status == F.lit(str(DlqStatus.PENDING)), 0).otherwise(1), F.col(QUARANTINED_AT).desc(),
        F.col(BRONZE_VERSION).desc(),
    )
    sample_rows = (
        exploded.withColumn("_n", F.row_number().over(window)).where(F.col("_n") <= samples)
        .select("rule", *[column(c) for c in shown]).collect()
    )
    rules: dict[str | None, dict[str, Any]] = {}
    for r in sorted(by_run, key=lambda r: (str(r["rule"]), str(r[QUARANTINE_RUN_ID]))):
        entry = rules.setdefault(r["rule"], {"rule": r["rule"], "rows": 0, **{str(s): 0 for s in DlqStatus},
                                             "runs": [], "samples": []})
        counts = {str(s): int(r[str(s)] or 0) for s in DlqStatus}
        entry["rows"] += int(r["rows"])
        for s, n in counts.items():
            entry[s] += n
        entry["runs"].append({"run_id": r[QUARANTINE_RUN_ID], "quarantined_at": _iso(r["quarantined_at"]),
                              "rows": int(r["rows"]), **counts})
    for r in sample_rows:
        if r["rule"] in rules:
            rules[r["rule"]]["samples"].append({c: jsonable(r[c]) for c in shown})
    out["rules"] = sorted(rules.values(), key=lambda e: (-e["rows"], str(e["rule"])))
    return out


def format_inspection(report: dict[str, Any]) -> str:
    """A readable summary of :func:`inspect`'s report."""
    if not report["exists"]:
        return f"{report['table']}: no dead-letter table at {report['path']} (nothing was ever quarantined)"
    status = ", ".join(f"{n} {s}" for s, n in report["status"].items())
    lines = [f"{report['table']}: {report['rows']} dead letter(s): {status}", ""]
    header = ("rule", "rows", "pending", "replayed", "discarded", "quarantine runs")
    table = [header] + [
        (str(e["rule"]), str(e["rows"]), str(e["pending"]), str(e["replayed"]), str(e["discarded"]),
         ", ".join(f"{run['run_id']} ({run['rows']})" for run in e["runs"]))
        for e in report["rules"]
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    for e in report["rules"]:
        if e["samples"]:
            lines += ["", f"samples of {e['rule']}:"]
            for sample in e["samples"]:
                lines.append("  " + ", ".join(f"{k}={v}" for k, v in sample.items() if v is not None and k != FAILED_RULES)
                             + f"  [{', '.join(sample.get(FAILED_RULES) or [])}]")
    return "\n".join(lines)


# --------------------------------------------------------------------------- discard


def discard(
    spark: SparkSession,
    env: EnvConfig,
    pipeline: PipelineConfig,
    selection: Selection,
    *,
    reason: str,
    run: RunContext,
    by: str | None = None,
) -> LayerOutcome:
    """Mark the selected pending dead letters discarded, recording why, by whom, when and in which run.

    Returns:
        The outcome: ``rows_in`` = ``rows_out`` = rows discarded (status ``skipped`` when none).

    Raises:
        ConfigError: neither a rule nor a run was given (discarding everything must be asked for by name),
            or the reason is blank.
        RunError: a replay was interrupted between its writes: rerun the replay first.
    """
    if selection.rule is None and selection.run_id is None:
        raise ConfigError("discard needs a rule or a quarantine run id", key="--rule/--run-id")
    if not reason.strip():
        raise ConfigError("discard needs a reason", key="--reason")
    silver, silver_path, dlq_path = paths(env, pipeline)
    if not DeltaTable.isDeltaTable(spark, dlq_path):
        return LayerOutcome(status=Status.SKIPPED, details={"reason": "no dead-letter table"})
    state = txn_state(spark, silver, silver_path, dlq_path)
    if state.interrupted:
        raise RunError("a dead-letter replay was interrupted between its writes: run `medallion dlq replay` "
                       "again to complete it before discarding")
    migrate_status(spark, dlq_path)
    who = by or current_user()
    tag = CommitTag(run.run_id, "dlq_discard", {"selection": selection.describe()})
    before = latest_version(spark, dlq_path)
    with idempotent_commit(spark, tag, app_id=app_id(silver), txn_version=state.next):
        DeltaTable.forPath(spark, dlq_path).update(
            condition=selection.condition(),
            set={
                DLQ_STATUS: F.lit(str(DlqStatus.DISCARDED)),
                DLQ_STATUS_RUN_ID: F.lit(run.run_id),
                DLQ_STATUS_AT: F.lit(as_utc(run.now)).cast("timestamp"),
                DLQ_DISCARD_REASON: F.lit(reason),
                DLQ_DISCARDED_BY: F.lit(who),
            },
        )
    commit = find_commit(spark, dlq_path, tag, after=before)
    n = commit.metric("numUpdatedRows") if commit is not None else 0
    log.info("dead-letter table %s: %d %s discarded by %s (%s)", dlq_path, n, selection.describe(), who, reason)
    return LayerOutcome(
        status=Status.SUCCEEDED if n else Status.SKIPPED,
        rows_in=n,
        rows_out=n,
        target_version=None if commit is None else commit.version,
        details={"selection": selection.describe(), "reason": reason, "by": who},
    )


# --------------------------------------------------------------------------- the run log


def log_run(
    spark: SparkSession,
    env: EnvConfig,
    pipeline: PipelineConfig,
    layer: str,
    run: RunContext,
    action: Any,
) -> RunRecord:
    """Run ``action()`` (returning a LayerOutcome) as a run of ``layer`` and append its record to the run log.

    A failure is recorded with its partial outcome, then re-raised.
    """
    silver, _, _ = paths(env, pipeline)
    error: MedallionError | None = None
    observe.layer_started(spark, env, pipeline, layer, run)
    try:
        outcome = action()
    except MedallionError as err:
        outcome, error = err.partial or LayerOutcome(), err
    record = RunRecord.of(
        outcome, context=run, pipeline=pipeline.dataset, environment=env.name, layer=layer,
        table=silver.dlq, ended_at=utc_now(), error=None if error is None else str(error),
        tables_written=[f"silver/{silver.table}", f"silver/{silver.dlq}"],
    )
    write_run_log(spark, env.run_log_path, [record])
    observe.layer_ended(spark, env, pipeline, record)
    observe.run_ended(spark, env, run.run_id, [pipeline], [record])
    if error is not None:
        raise error
    return record


def _iso(value: Any) -> str | None:
    return None if value is None else as_utc(value).isoformat()
