"""Test data for history and deletes: a customers CDC feed, bronze tables built directly in Delta,
and an independent pure-Python model of what silver must hold."""
from __future__ import annotations

from copy import deepcopy
from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from benchmarks.scd2 import PIPELINE, SOURCE_DDL
from medallion.config import PipelineConfig

HISTORY_DDL = (
    "customer_id BIGINT, email STRING, segment STRING, op STRING, updated_at TIMESTAMP, "
    "_valid_from TIMESTAMP, _valid_to TIMESTAMP, _is_current BOOLEAN, _is_deleted BOOLEAN"
)
LATEST_DDL = "customer_id BIGINT, email STRING, segment STRING, op STRING, updated_at TIMESTAMP"


def customers(history: str = "scd2", **overrides: Any) -> PipelineConfig:
    """The customers CDC pipeline of the SCD2 benchmark (:data:`benchmarks.scd2.PIPELINE`), with
    ``history`` and any silver setting overridden."""
    spec = deepcopy(PIPELINE)
    silver = spec["silver"]
    silver["history"] = history
    if history != "scd2":
        silver.pop("ignore_columns", None)
    silver.update(overrides)
    return PipelineConfig.model_validate(spec)


def bronze_frame(spark: SparkSession, records: list[tuple[Any, ...]], *, source_file: str = "c.json") -> DataFrame:
    """Bronze rows: the 5 source strings plus bronze's audit columns."""
    df = spark.createDataFrame([(*r, None) for r in records], SOURCE_DDL + ", _corrupt_record STRING")
    ts = F.lit("2026-11-26 10:00:00").cast("timestamp")
    return df.select(
        "*",
        ts.alias("_ingested_at"),
        F.lit(source_file).alias("_source_file"),
        F.lit("crm").alias("_source_system"),
        F.to_date(ts).alias("_processing_date"),
        F.sha2(F.to_json(F.struct(*sorted(df.columns))), 256).alias("_record_hash"),
        F.lit("bronze-run").alias("_run_id"),
    )


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def expected_history(events: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """SCD2 rows from all events, by walking each key's events in time order (independent of Spark).

    events: (customer_id, email, segment, op, updated_at) as the source strings; each (key, updated_at)
    appears once. Tracked: email and segment (op ignored); op 'D' deletes.
    """
    out: list[tuple[Any, ...]] = []
    by_key: dict[int, list[tuple[Any, ...]]] = {}
    for cid, email, segment, op, ts in events:
        if cid is None:
            continue
        by_key.setdefault(int(cid), []).append((email.strip().lower(), segment.strip().upper(), op.upper(), _ts(ts)))
    for cid, evs in sorted(by_key.items()):
        open_row: list[Any] | None = None
        for email, segment, op, ts in sorted(evs, key=lambda e: e[3]):
            if op == "D":
                if open_row is not None:
                    open_row[6], open_row[8] = ts, True
                    out.append(tuple(open_row))
                    open_row = None
                continue
            if open_row is not None and (open_row[1], open_row[2]) == (email, segment):
                continue
            if open_row is not None:
                open_row[6] = ts
                out.append(tuple(open_row))
            open_row = [cid, email, segment, op, ts, ts, None, None, False]
        if open_row is not None:
            out.append(tuple(open_row))
    return [(*r[:7], r[6] is None, r[8]) for r in out]


def expected_latest(events: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Latest-mode rows: per key the newest event, unless it is a delete."""
    newest: dict[int, tuple[Any, ...]] = {}
    for cid, email, segment, op, ts in events:
        if cid is None:
            continue
        e = (int(cid), email.strip().lower(), segment.strip().upper(), op.upper(), _ts(ts))
        if e[0] not in newest or e[4] > newest[e[0]][4]:
            newest[e[0]] = e
    return [e for _, e in sorted(newest.items()) if e[3] != "D"]
