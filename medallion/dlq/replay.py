"""Replay dead letters under the current config, exactly once (``medallion dlq replay``).

One replay:

1. **Select** the pending dead letters (optionally of one rule / one quarantine run) from the
   dead-letter table at a fixed version ``v``.
2. **Re-evaluate** them (:mod:`medallion.dlq.reevaluate`) with silver's own :func:`~medallion.silver.prepare.prepare` (the ``columns:`` and
   expectations as they are now). A corrupt record is first re-parsed from its raw text with the
   current source settings (JSON; CSV with a declared ``schema``), so a schema fix brings it back.
   The versions of a key are ranked as in a silver run.
3. **MERGE** the newest passing row of each key into silver with silver's own
   :func:`~medallion.silver.prepare.merge_spec` (newest wins: a replayed older version never overwrites a newer
   one; it is counted superseded), as an idempotent commit ``(app id, txn N)``.
4. **Update the dead letters**: passing rows become ``replayed``; rows that still fail stay pending
   with their new reasons (only rows whose reasons changed are rewritten), as an idempotent commit of
   the same ``(app id, txn N)``.

Crash safety: silver's commit carries ``v``, the selection and a fingerprint of the config in its
commit tag. If the process dies between steps 3 and 4, silver holds transaction ``N`` and the
dead-letter table ``N - 1``: the next replay sees that, reads the same rows at version ``v``,
re-evaluates them (refusing if the config changed meanwhile), takes the MERGE's counts from silver's
commit and commits step 4 only. A crash before step 3 leaves nothing; after step 4 everything. Each
row is applied once. ``--dry-run`` does steps 1-2 and answers step 3 with a join, writing nothing.

Accounting (the run log's ``dlq_replay`` record): ``rows_in`` (selected) = ``rows_out`` (inserted +
updated in silver) + ``rows_superseded`` + ``rows_quarantined`` (still failing).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from delta.tables import DeltaTable
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from medallion.audit.outcome import LayerOutcome, RunContext, Status
from medallion.clock import as_utc
from medallion.columns import (
    BRONZE_VERSION,
    DLQ_STATUS,
    DLQ_STATUS_AT,
    DLQ_STATUS_RUN_ID,
    FAILED_RULES,
    PREVIOUS_RULES,
    QUARANTINED,
    RANK,
    RECORD_HASH,
)
from medallion.config import EnvConfig, PipelineConfig
from medallion.config.base import fingerprint as definition_fingerprint
from medallion.delta_table import CommitTag, find_commit, history_metadata, idempotent_commit, latest_version
from medallion.dlq.commands import Selection, app_id, paths, read_dead_letters, txn_state
from medallion.dlq.reevaluate import evaluate
from medallion.errors import RunError
from medallion.session import session_conf
from medallion.silver.dead_letters import DlqStatus, migrate_status
from medallion.silver.expectations import batch_outcome, quality_aggregates
from medallion.silver.merge import SOURCE, TARGET, MergeSpec, merge_into
from medallion.silver.prepare import merge_spec
from medallion.sql import quote_identifier

__all__ = ["LAYER", "replay", "fingerprint", "format_replay"]

log = logging.getLogger(__name__)

LAYER = "dlq_replay"
_META_KEY = "dlq_replay"

#: Hook called with a step name ("evaluated", "merged", "updated"): a seam for crash tests.
StepHook = Callable[[str], None]


def fingerprint(pipeline: PipelineConfig) -> str:
    """A hash of what a replay's outcome depends on: the source settings and the silver section."""
    assert pipeline.silver is not None
    relevant = {"source": pipeline.source.model_dump(mode="json"),
                "silver": pipeline.silver.model_dump(mode="json", exclude={"checks"})}
    return definition_fingerprint(relevant)


# --------------------------------------------------------------------------- the command


@dataclass(frozen=True)
class _Plan:
    txn: int
    dlq_version: int
    selection: Selection
    run: RunContext
    resumed_silver_version: int | None = None  # the interrupted replay's silver commit


def replay(
    spark: SparkSession,
    env: EnvConfig,
    pipeline: PipelineConfig,
    selection: Selection,
    run: RunContext,
    *,
    dry_run: bool = False,
    on_step: StepHook | None = None,
) -> LayerOutcome:
    """Replay the selected pending dead letters (see the module docstring).

    Args:
        spark: the session.
        env: where the tables live.
        pipeline: the pipeline as it is configured now.
        selection: which pending rows (rule / quarantine run); ignored when completing an interrupted replay.
        run: this run's id and clock.
        dry_run: evaluate and report only; nothing is written.
        on_step: called after each step; tests use it to kill the process between writes.

    Returns:
        The outcome: ``rows_in`` selected = ``rows_out`` merged + ``rows_superseded`` + ``rows_quarantined``
        (still failing); ``details`` has per-rule counts of the still-failing rows and ``dry_run`` / ``resumed``.

    Raises:
        RunError: silver does not exist, or an interrupted replay was evaluated under another config.
    """
    silver, silver_path, dlq_path = paths(env, pipeline)
    hook = on_step or (lambda _step: None)
    if not DeltaTable.isDeltaTable(spark, dlq_path):
        return LayerOutcome(status=Status.SKIPPED, details={"reason": "no dead-letter table", "dry_run": dry_run})
    if not DeltaTable.isDeltaTable(spark, silver_path):
        raise RunError(f"silver table {silver_path} does not exist: run the silver layer first")
    plan = _plan(spark, pipeline, selection, run, silver_path, dlq_path)
    details: dict[str, Any] = {"dry_run": dry_run, "selection": plan.selection.describe(),
                               "dlq_version": plan.dlq_version, "txn": plan.txn}
    if plan.resumed_silver_version is not None:
        details.update(resumed=True, completes_run=plan.run.run_id)
        log.warning("dlq replay: completing replay run %s interrupted after its silver commit (version %s)",
                    plan.run.run_id, plan.resumed_silver_version)
    dead = read_dead_letters(spark, dlq_path, version=plan.dlq_version)
    assert dead is not None
    selected = dead.where(plan.selection.condition())
    with session_conf(spark, {"spark.sql.ansi.enabled": "false"}):  # cast failures become null, as in silver
        evaluated = evaluate(pipeline, selected, plan.run).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            return _replay(spark, pipeline, evaluated, plan, details, dry_run=dry_run, hook=hook,
                           silver_path=silver_path, dlq_path=dlq_path)
        finally:
            evaluated.unpersist()


def _plan(
    spark: SparkSession, pipeline: PipelineConfig, selection: Selection, run: RunContext, silver_path: str, dlq_path: str
) -> _Plan:
    silver = pipeline.silver
    assert silver is not None
    state = txn_state(spark, silver, silver_path, dlq_path)
    if not state.interrupted:
        return _Plan(state.next, latest_version(spark, dlq_path), selection, run)
    for version, meta in history_metadata(spark, silver_path):
        found = meta.get(_META_KEY)
        if meta.get("layer") == LAYER and isinstance(found, dict) and found.get("txn") == state.silver:
            if found.get("fingerprint") != fingerprint(pipeline):
                raise RunError(
                    f"dlq replay run {meta['run_id']} was interrupted after merging into silver, and the pipeline's "
                    "source or silver settings changed since: restore them and rerun `medallion dlq replay` to "
                    "complete it"
                )
            original = Selection(rule=found.get("rule"), run_id=found.get("quarantine_run_id"))
            return _Plan(state.silver, int(found["dlq_version"]), original, RunContext(str(meta["run_id"]), run.now),
                         resumed_silver_version=version)
    raise RunError(f"silver holds dlq replay transaction {state.silver} but its commit is not in the history of {silver_path}")


def _replay(
    spark: SparkSession,
    pipeline: PipelineConfig,
    evaluated: DataFrame,
    plan: _Plan,
    details: dict[str, Any],
    *,
    dry_run: bool,
    hook: StepHook,
    silver_path: str,
    dlq_path: str,
) -> LayerOutcome:
    silver = pipeline.silver
    assert silver is not None
    spec = merge_spec(silver)
    counts = _summarise(evaluated, pipeline)
    details["still_failing_by_rule"] = {k.removeprefix("rule:"): v for k, v in counts.items() if k.startswith("rule:") and v}
    details["corrupt"] = counts["rows_corrupt"]
    for key in ("null_key", "reasons_changed", "superseded_in_batch"):
        details[key] = counts[key]
    outcome = batch_outcome(counts, source_version=plan.dlq_version, details=details)
    hook("evaluated")
    if counts["rows_in"] == 0:
        return LayerOutcome(status=Status.SKIPPED, source_version=plan.dlq_version, details=details)
    merge_rows = evaluated.where(~F.col(QUARANTINED) & (F.col(RANK) == 1)).select(*[quote_identifier(c) for c in spec.columns])

    if dry_run:
        applied = _would_apply(spark, silver_path, merge_rows, spec)
        return LayerOutcome(
            status=Status.SKIPPED, rows_in=outcome.rows_in, rows_out=applied, rows_quarantined=outcome.rows_quarantined,
            rows_superseded=counts["superseded_in_batch"] + counts["merge_rows"] - applied,
            rows_warned=outcome.rows_warned, rows_corrupt=outcome.rows_corrupt,
            source_version=plan.dlq_version, details=details,
        )

    writer = app_id(silver)
    tag = CommitTag(plan.run.run_id, LAYER, {_META_KEY: {
        "txn": plan.txn, "dlq_version": plan.dlq_version, "rule": plan.selection.rule,
        "quarantine_run_id": plan.selection.run_id, "fingerprint": fingerprint(pipeline),
    }})
    inserted = updated = unapplied = 0
    target_version: int | None = None
    if counts["merge_rows"]:
        if plan.resumed_silver_version is not None:
            commit = find_commit(spark, silver_path, tag, after=plan.resumed_silver_version - 1)
            if commit is None:
                raise RunError(f"the interrupted replay's commit {plan.resumed_silver_version} of {silver_path} is gone")
            inserted, updated = commit.metric("numTargetRowsInserted"), commit.metric("numTargetRowsUpdated")
            unapplied = commit.metric("numSourceRows") - inserted - updated
            target_version = commit.version
        else:
            metrics = merge_into(spark, silver_path, merge_rows, spec, app_id=writer, txn_version=plan.txn, tag=tag)
            inserted, updated, unapplied, target_version = (
                metrics.inserted, metrics.updated, metrics.unapplied, metrics.version)
        details["merge"] = {"inserted": inserted, "updated": updated, "unapplied": unapplied}
    hook("merged")

    changed = counts["rows_in"] - counts["rows_quarantined"] + counts["reasons_changed"]
    if changed:
        migrate_status(spark, dlq_path)
        details["dlq_commit_version"] = _update_dead_letters(spark, dlq_path, evaluated, plan, tag, writer)
    hook("updated")
    out = LayerOutcome(
        status=Status.SUCCEEDED if changed else Status.SKIPPED,
        rows_in=outcome.rows_in,
        rows_out=inserted + updated,
        rows_quarantined=outcome.rows_quarantined,
        rows_superseded=counts["superseded_in_batch"] + unapplied,
        rows_warned=outcome.rows_warned,
        rows_corrupt=outcome.rows_corrupt,
        source_version=plan.dlq_version,
        target_version=target_version,
        details=details,
    )
    log.info(
        "dlq replay %s: %s selected = %s merged + %s superseded + %s still failing",
        plan.run.run_id, out.rows_in, out.rows_out, out.rows_superseded, out.rows_quarantined,
    )
    return out


def _summarise(evaluated: DataFrame, pipeline: PipelineConfig) -> dict[str, int]:
    """Every count of the replay in one aggregation over the persisted evaluation."""
    assert pipeline.silver is not None
    passing, failing = ~F.col(QUARANTINED), F.col(QUARANTINED)
    changed = failing & ~F.coalesce(F.col(FAILED_RULES) == F.col(PREVIOUS_RULES), F.lit(False))
    rules = [e.name for e in pipeline.silver.expectations]
    row = evaluated.agg(
        *quality_aggregates(()),
        _count(passing & (F.col(RANK) > 1)).alias("superseded_in_batch"),
        _count(passing & (F.col(RANK) == 1)).alias("merge_rows"),
        _count(changed).alias("reasons_changed"),
        *[_count(failing & F.array_contains(F.col(FAILED_RULES), name)).alias(f"rule:{name}") for name in rules],
    ).head()
    assert row is not None
    return {k: int(v or 0) for k, v in row.asDict().items()}


def _count(condition: Any) -> Any:
    return F.coalesce(F.sum(F.when(condition, 1).otherwise(0)), F.lit(0)).cast("bigint")


def _would_apply(spark: SparkSession, silver_path: str, merge_rows: DataFrame, spec: MergeSpec) -> int:
    """How many of ``merge_rows`` the MERGE would insert or update (its own conditions, as a join)."""
    target = spark.read.format("delta").load(silver_path).alias(TARGET)
    joined = merge_rows.alias(SOURCE).join(target, spec.key_condition(), "left")
    missing = F.col(f"{TARGET}.{quote_identifier(spec.keys[0])}").isNull()
    row = joined.agg(_count(missing | spec.update_condition()).alias("applied")).head()
    assert row is not None
    return int(row["applied"])


def _update_dead_letters(
    spark: SparkSession, dlq_path: str, evaluated: DataFrame, plan: _Plan, tag: CommitTag, writer: str
) -> int:
    """Passing rows -> replayed; still-failing rows whose reasons changed -> their new reasons. One commit."""
    passing = ~F.col(QUARANTINED)
    changed = F.col(QUARANTINED) & ~F.coalesce(F.col(FAILED_RULES) == F.col(PREVIOUS_RULES), F.lit(False))
    ts = F.lit(as_utc(plan.run.now)).cast("timestamp")
    # Identical duplicates (same bronze commit and record hash) are evaluated alike: one source row each.
    source = evaluated.where(passing | changed).select(
        BRONZE_VERSION, RECORD_HASH,
        F.when(passing, F.lit(str(DlqStatus.REPLAYED))).otherwise(F.lit(str(DlqStatus.PENDING))).alias(DLQ_STATUS),
        F.when(passing, F.col(PREVIOUS_RULES)).otherwise(F.col(FAILED_RULES)).alias(FAILED_RULES),
    ).dropDuplicates([BRONZE_VERSION, RECORD_HASH])
    t, s = "t", "s"
    pending = F.coalesce(F.col(f"{t}.{DLQ_STATUS}"), F.lit(str(DlqStatus.PENDING))) == F.lit(str(DlqStatus.PENDING))
    match = (
        (F.col(f"{t}.{BRONZE_VERSION}") == F.col(f"{s}.{BRONZE_VERSION}"))
        & F.col(f"{t}.{RECORD_HASH}").eqNullSafe(F.col(f"{s}.{RECORD_HASH}"))
        & pending
    )
    before = latest_version(spark, dlq_path)
    with idempotent_commit(spark, tag, app_id=writer, txn_version=plan.txn):
        (
            DeltaTable.forPath(spark, dlq_path).alias(t)
            .merge(source.alias(s), match)
            .whenMatchedUpdate(set={
                DLQ_STATUS: F.col(f"{s}.{DLQ_STATUS}"),
                FAILED_RULES: F.col(f"{s}.{FAILED_RULES}"),
                DLQ_STATUS_RUN_ID: F.lit(plan.run.run_id),
                DLQ_STATUS_AT: ts,
            })
            .execute()
        )
    commit = find_commit(spark, dlq_path, tag, after=before)
    if commit is None:
        raise RunError(f"dead-letter update of {dlq_path} was not committed: transaction {writer}@{plan.txn} was already applied")
    return commit.version


def format_replay(outcome: LayerOutcome, *, run_id: str) -> str:
    """The replay's summary: what was selected and where each row went."""
    d = outcome.details
    head = "dry run, nothing written" if d.get("dry_run") else f"run {run_id}: {outcome.status}"
    if d.get("resumed"):
        head += " (completed an interrupted replay)"
    verb = "would be " if d.get("dry_run") else ""
    lines = [
        f"dlq replay ({head}): {d.get('selection', 'pending rows')} at dead-letter version {outcome.source_version}",
        f"  selected {outcome.rows_in} = {verb}merged {outcome.rows_out} + {verb}superseded {outcome.rows_superseded} "
        f"+ still failing {outcome.rows_quarantined}",
    ]
    failing = d.get("still_failing_by_rule") or {}
    if failing or d.get("corrupt"):
        reasons = dict(failing)
        if d.get("corrupt"):
            reasons["corrupt_record"] = d["corrupt"]
        if d.get("null_key"):
            reasons["null_key"] = d["null_key"]
        lines.append("  still failing by rule: " + ", ".join(f"{k} {v}" for k, v in reasons.items()))
    if d.get("reason"):
        lines.append(f"  {d['reason']}")
    return "\n".join(lines)
