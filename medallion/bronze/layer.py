"""Bronze: landing files into an append-only Delta table, every record kept, each file exactly once.

Exactly once, crash-safe: a run plans on a fixed bronze version ``v`` and the file record
(:mod:`medallion.bronze.file_log`), which is brought up to ``v`` from bronze's own change feed first, so bronze
stays the truth: a crash before the bronze commit leaves nothing, a crash after it leaves the file in
bronze (and the next run records it). The append carries Delta's idempotent-write options
(``txnAppId`` = this table, ``txnVersion`` = ``v + 1``), so two runs racing on the same snapshot cannot
both append the same files: Delta drops the second one, and it is reported as skipped (exit 0).

One bad file does not stop the rest: a file that cannot be read at all is quarantined as a whole
(recorded ``unreadable`` in the file record and in the run log's details), the others are ingested,
and later runs skip it unless it is re-delivered (another size or modification time). The run fails
only when more than ``bronze.max_unreadable_files`` (if set) are unreadable; then nothing is committed.

A file re-delivered under an ingested name with another size or modification time is reported
(``files_redelivered``, a warning) and skipped, or ingested again when ``bronze.redeliveries: ingest``.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from medallion.audit.outcome import LayerOutcome, RunContext, Status
from medallion.bronze.file_log import FileEntry, FileLog, FileStatus, entries_for, normal_path
from medallion.bronze.landing import Landed, read_files
from medallion.bronze.landing_json import shape_changed
from medallion.bronze.listing import LandingFile, list_files
from medallion.bronze.source_names import recorded_sources
from medallion.bronze.unreadable import UnreadableFileError, find_unreadable, unreadable_file
from medallion.clock import as_utc
from medallion.columns import (
    BRONZE_AUDIT,
    CORRUPT_BYTES,
    CORRUPT_RECORD,
    INGESTED_AT,
    PROCESSING_DATE,
    RECORD_HASH,
    RUN_ID,
    SOURCE_FILE,
    SOURCE_SYSTEM,
)
from medallion.config import EnvConfig, PipelineConfig
from medallion.delta_table import Commit, CommitTag, append_idempotent, latest_version
from medallion.errors import SourceError, deepest_java_cause
from medallion.session import session_conf
from medallion.sql import column

__all__ = ["run_bronze", "add_audit_columns", "app_id", "Plan", "plan_files"]

log = logging.getLogger(__name__)

STATS_COLUMNS = (SOURCE_FILE, INGESTED_AT, RUN_ID)
_STRING_STATS_PREFIX = "spark.databricks.io.skipping.stringPrefixLength"
_TABLE_PROPERTIES = {
    "delta.enableChangeDataFeed": "true",  # silver reads bronze incrementally
    # Statistics only where they are used (file skipping for the exactly-once check and by date),
    # whatever the number of source columns.
    "delta.dataSkippingStatsColumns": ",".join(STATS_COLUMNS),
}


def add_audit_columns(source_system: str, run_id: str, now: datetime):  # type: ignore[no-untyped-def]
    """A transform adding bronze's audit columns to a frame of source columns + ``_corrupt_record``.

    ``_record_hash`` is the SHA-256 of the record's non-null ``name=value`` pairs in name order, joined
    by NUL: the same record hashes the same whichever column order its file had, and columns added by a
    later delivery (null for older records) do not change it. (Cheaper than hashing ``to_json``: the
    benchmark measured JSON rendering as ~30 % of bronze's write.)

    Example:
        >>> bronze_df = raw_df.transform(add_audit_columns("webshop", "run-1", now))
    """

    def transform(df: DataFrame) -> DataFrame:
        data_cols = sorted(c for c in df.columns if c != SOURCE_FILE)
        # concat(...) of a null value is null, and concat_ws skips nulls.
        values = {c: F.base64(column(c)) if c == CORRUPT_BYTES else column(c) for c in data_cols}
        record: Column = F.concat_ws("\u0000", *[F.concat(F.lit(f"{c}="), values[c]) for c in data_cols])
        ingested_at = F.lit(as_utc(now)).cast("timestamp")
        return df.select(
            *[column(c) for c in df.columns if c not in BRONZE_AUDIT and c != CORRUPT_BYTES],
            F.col(CORRUPT_RECORD),
            *([F.col(CORRUPT_BYTES)] if CORRUPT_BYTES in df.columns else []),
            ingested_at.alias(INGESTED_AT),
            F.col(SOURCE_FILE),
            F.lit(source_system).alias(SOURCE_SYSTEM),
            F.to_date(ingested_at).alias(PROCESSING_DATE),
            F.sha2(record, 256).alias(RECORD_HASH),
            F.lit(run_id).alias(RUN_ID),
        )

    return transform


def app_id(path: str) -> str:
    """The idempotent-writer id of bronze's appends to the table at ``path``."""
    return f"medallion-bronze:{path}"


@dataclass(frozen=True)
class Plan:
    """What a bronze run does with the listed files, decided from the file record."""

    to_read: list[LandingFile]
    empty: list[LandingFile]
    skipped: int  # listed files already dealt with, unchanged
    redelivered: list[LandingFile]  # ingested before, now with another size / modification time
    redelivered_ingest: bool


def plan_files(files: Sequence[LandingFile], known: dict[str, FileEntry], *, ingest_redeliveries: bool) -> Plan:
    """Split the listing into files to read, empty files, files to skip and changed re-deliveries.

    A recorded file whose size and modification time are unchanged is skipped. A changed one is read
    when it never reached bronze (it was empty or unreadable), and otherwise is a re-delivery: read
    again only with ``ingest_redeliveries``.
    """
    to_read: list[LandingFile] = []
    empty: list[LandingFile] = []
    redelivered: list[LandingFile] = []
    skipped = 0
    for f in files:
        entry = known.get(normal_path(f.path))
        if entry is not None and entry.same_content(f.size, f.modified_ms):
            skipped += 1
            continue
        if entry is not None and entry.status in (FileStatus.INGESTED, FileStatus.REDELIVERY_SKIPPED):
            redelivered.append(f)
            if not ingest_redeliveries:
                continue
        elif entry is not None and entry.status is FileStatus.EMPTY and f.size == 0:
            skipped += 1
            continue
        (empty if f.size == 0 else to_read).append(f)
    return Plan(to_read, empty, skipped, redelivered, ingest_redeliveries)


def run_bronze(spark: SparkSession, env: EnvConfig, pipeline: PipelineConfig, run: RunContext) -> LayerOutcome:
    """Ingest the landing files not yet in bronze. See the module docstring for the guarantees."""
    source = pipeline.source
    landing = env.resolve_landing(source.path)
    target = env.table_path("bronze", pipeline.bronze.table)
    files_log = FileLog(spark, env.files_path, target)

    files = list_files(spark, landing)
    version = latest_version(spark, target)  # -1: no table yet
    exists = version >= 0
    listed = {normal_path(f.path): (f.size, f.modified_ms) for f in files}
    # Bring the file record up to the planned version first (a crash after a bronze commit, or a bronze
    # table older than the record): bronze is the truth.
    behind = files_log.missing_from_bronze(version) if exists else set()
    if behind:
        log.info("bronze %s: recording %d file(s) already in bronze up to version %d", target, len(behind), version)
        files_log.record(entries_for(sorted(behind), listed, FileStatus.INGESTED), bronze_version=version,
                         committed=True, run_id=run.run_id, now=run.now)
    plan = plan_files(files, files_log.current(), ingest_redeliveries=pipeline.bronze.redeliveries == "ingest")
    details: dict[str, object] = {"landing": landing, "files_empty": len(plan.empty), "files": [f.path for f in plan.to_read]}
    if plan.redelivered:
        details["files_redelivered"] = [f.path for f in plan.redelivered]
        log.warning(
            "bronze %s: %d ingested file(s) re-delivered with another size or modification time (%s): %s",
            pipeline.bronze.table, len(plan.redelivered),
            "ingesting them again" if plan.redelivered_ingest else "skipped; set bronze.redeliveries: ingest to ingest",
            [f.path for f in plan.redelivered][:20],
        )
    log.info(
        "bronze %s: %d file(s) in %s, %d already dealt with, %d to read (%d empty)",
        pipeline.bronze.table, len(files), landing, plan.skipped, len(plan.to_read), len(plan.empty),
    )
    notes = [FileEntry(f.path, f.size, f.modified_ms, FileStatus.EMPTY) for f in plan.empty]
    if not plan.redelivered_ingest:
        notes += [FileEntry(f.path, f.size, f.modified_ms, FileStatus.REDELIVERY_SKIPPED) for f in plan.redelivered]
    skipped_outcome = LayerOutcome(
        status=Status.SKIPPED, files_skipped=len(files) - len(plan.to_read), source_version=version if exists else None,
        details=details,
    )
    if not plan.to_read:
        files_log.record(notes, bronze_version=version, committed=False, run_id=run.run_id, now=run.now)
        return skipped_outcome

    limit = pipeline.bronze.max_unreadable_files
    unreadable: list[FileEntry] = []
    pending = list(plan.to_read)
    commit = None
    observed: Observation | None = None
    facts: dict[str, object] = {}
    # Duplicate keys within one JSON object: the last wins (as in most JSON parsers), not a failed run.
    with session_conf(spark, {_STRING_STATS_PREFIX: "1024", "spark.sql.mapKeyDedupPolicy": "LAST_WIN"}):
        while pending:
            try:
                commit, observed, facts = _ingest(spark, pipeline, target, version, pending, run)
                break
            except Exception as err:
                paths = [f.path for f in pending]
                bad = (
                    err.path if isinstance(err, UnreadableFileError)
                    else unreadable_file(err, paths) or find_unreadable(spark, source, err, paths)
                )
                if bad is None:
                    raise
                reason = err.reason if isinstance(err, UnreadableFileError) else deepest_java_cause(err)
                bad_file = next(f for f in pending if f.path == bad)
                log.warning("bronze %s: quarantined unreadable file %s (%s)", pipeline.bronze.table, bad, reason)
                unreadable.append(FileEntry(bad_file.path, bad_file.size, bad_file.modified_ms, FileStatus.UNREADABLE, reason))
                pending.remove(bad_file)
                if limit is not None and len(unreadable) > limit:
                    raise SourceError(
                        f"{len(unreadable)} landing file(s) cannot be read, more than bronze.max_unreadable_files="
                        f"{limit}; nothing was ingested: {[e.path for e in unreadable]}"
                    ) from err
    if unreadable:
        details["files_unreadable"] = [{"path": e.path, "size": e.size, "error": e.error} for e in unreadable]
        details["files"] = [f.path for f in pending]
    details.update(facts)
    notes += unreadable
    if commit is None:
        # Nothing readable, or Delta dropped the append (a concurrent run planned on the same snapshot
        # and committed first; the observation never fired, so it is not waited on).
        if pending:
            log.warning("bronze %s: a concurrent run already ingested these files; nothing appended", target)
            details["concurrent_skip"] = True
        files_log.record(notes, bronze_version=version, committed=False, run_id=run.run_id, now=run.now)
        return replace(skipped_outcome, details=details)
    files_log.record(
        [FileEntry(f.path, f.size, f.modified_ms, FileStatus.INGESTED) for f in pending] + notes,
        bronze_version=commit.version, committed=True, run_id=run.run_id, now=run.now,
    )
    metrics = observed.get if observed is not None else {}
    outcome = LayerOutcome(
        rows_in=int(metrics.get("rows", 0)),
        rows_out=commit.metric("numOutputRows"),
        rows_corrupt=int(metrics.get("corrupt", 0)),
        files_ingested=len(pending),
        files_skipped=len(files) - len(pending),
        source_version=version if exists else None,
        target_version=commit.version,
        details=details,
    )
    log.info(
        "bronze %s: %d file(s), %d record(s) appended (%d corrupt) at version %d",
        pipeline.bronze.table, len(pending), outcome.rows_out, outcome.rows_corrupt, commit.version,
    )
    return outcome


def _ingest(
    spark: SparkSession, pipeline: PipelineConfig, target: str, version: int, files: Sequence[LandingFile], run: RunContext
) -> tuple[Commit | None, Observation, dict[str, object]]:
    """Read ``files`` and append them to bronze in one idempotent commit planned on ``version``.

    Returns the commit, the observation of its row counts, and facts for the run log's details
    (``columns_renamed``; for JSON, ``json_parse``: ``table keys``, ``key discovery``, or ``key discovery
    after a refused one pass`` when the delivery had a new shape, see :mod:`medallion.bronze.landing_json`).
    """
    exists = version >= 0
    schema = spark.read.format("delta").load(target).schema if exists else None
    paths = [f.path for f in files]
    existing = recorded_sources(schema, (*BRONZE_AUDIT, CORRUPT_BYTES))
    has_bytes = schema is not None and CORRUPT_BYTES in schema.fieldNames()
    landed = read_files(spark, pipeline.source, paths, existing, corrupt_bytes=has_bytes)
    try:
        return _append(pipeline, target, version, landed, run, name=f"{len(paths)}-1")
    except Exception as err:
        if not (landed.known_keys and shape_changed(err)):
            raise
        log.info("bronze %s: the delivery brings a new JSON shape (a new key, an array line or bytes that are "
                 "not UTF-8); reading it again with key discovery", target)
    finally:
        landed.release()
    landed = read_files(spark, pipeline.source, paths, existing, one_pass=False)
    try:
        commit, observed, facts = _append(pipeline, target, version, landed, run, name=f"{len(paths)}-2")
    finally:
        landed.release()
    return commit, observed, {**facts, "json_parse": "key discovery after a refused one pass"}


def _append(
    pipeline: PipelineConfig, target: str, version: int, landed: Landed, run: RunContext, *, name: str
) -> tuple[Commit | None, Observation, dict[str, object]]:
    bronze = landed.frame.transform(add_audit_columns(pipeline.source.source_system, run.run_id, run.now))
    observed = Observation(f"bronze-{run.run_id}-{name}")
    bronze = bronze.observe(observed, F.count(F.lit(1)).alias("rows"), F.count(F.col(CORRUPT_RECORD)).alias("corrupt"))
    # Planned on version v (-1: no table yet): txn v + 1. The first append creates the table.
    commit = append_idempotent(
        bronze, target, app_id=app_id(target), txn_version=version + 1, tag=CommitTag(run.run_id, "bronze"),
        properties=_TABLE_PROPERTIES, partition_by=(PROCESSING_DATE,),
    )
    facts: dict[str, object] = {"columns_renamed": landed.renamed} if landed.renamed else {}
    if pipeline.source.format == "json" and pipeline.source.schema_ is None:
        facts["json_parse"] = "table keys" if landed.known_keys else "key discovery"
    return commit, observed, facts
