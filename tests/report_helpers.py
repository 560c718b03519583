"""A lakehouse built by real runs of the bundled sample, for the report's tests.

Three runs of ``conf/pipelines/orders.yaml`` through the runner, as an environment would see them:

1. the initial delivery (``data/landing/orders``: 3 files, 3,000 records);
2. the later delivery (``data/later/orders``: 1 file, 300 records, a new column ``coupon_code``);
3. a small delivery run with a copy of the pipeline whose ``known_status`` rule is ``fail``: bronze
   ingests it, silver fails on the unknown status and writes nothing, gold does not run.

The clock is injected (each reading advances ``STEP``), so start times and durations are exact.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyspark.sql import SparkSession

from medallion.config import EnvConfig, PipelineConfig, load_pipeline
from medallion.layers import layers_for
from medallion.runner import RunReport, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
LANDING = json.loads((ROOT / "data/landing/orders.expected.json").read_text())
LATER = json.loads((ROOT / "data/later/orders.expected.json").read_text())
STEP = timedelta(seconds=7)
STARTS = (
    datetime(2026, 11, 1, 6, 5, tzinfo=UTC),
    datetime(2026, 11, 4, 6, 5, tzinfo=UTC),
    datetime(2026, 11, 5, 6, 5, tzinfo=UTC),
)
THIRD_FILE = "orders_20261105T060000Z.json"
#: The third delivery: two clean new orders and one with a status the strict copy refuses.
THIRD_ROWS = [
    {"order_id": 990001, "customer_email": "a@example.com", "amount": 10.5, "currency": "EUR", "status": "NEW",
     "channel": "web", "items": 1, "created_at": "2026-11-05T05:00:00Z", "updated_at": "2026-11-05T05:10:00Z"},
    {"order_id": 990002, "customer_email": "b@example.com", "amount": 20.0, "currency": "EUR", "status": "PAID",
     "channel": "app", "items": 2, "created_at": "2026-11-05T05:01:00Z", "updated_at": "2026-11-05T05:11:00Z"},
    {"order_id": 990003, "customer_email": "c@example.com", "amount": 30.0, "currency": "EUR", "status": "LOST",
     "channel": "web", "items": 3, "created_at": "2026-11-05T05:02:00Z", "updated_at": "2026-11-05T05:12:00Z"},
]


def stepping_clock(start: datetime) -> Callable[[], datetime]:
    """A clock that returns ``start``, ``start + STEP``, ``start + 2 STEP``, …"""
    ticks = [start - STEP]

    def clock() -> datetime:
        ticks[0] += STEP
        return ticks[0]

    return clock


@dataclass
class SampleLakehouse:
    env: EnvConfig
    pipeline: PipelineConfig
    reports: list[RunReport]
    root: Path


def strict_pipeline(pipeline: PipelineConfig) -> PipelineConfig:
    """The sample pipeline with its ``warn`` rule turned into ``fail``."""
    assert pipeline.silver is not None
    rules = [e.model_copy(update={"action": "fail"}) if e.action == "warn" else e for e in pipeline.silver.expectations]
    return pipeline.model_copy(update={"silver": pipeline.silver.model_copy(update={"expectations": rules})})


def build_sample_lakehouse(spark: SparkSession, root: Path) -> SampleLakehouse:
    landing = root / "landing" / "orders"
    shutil.copytree(ROOT / "data/landing/orders", landing)
    env = EnvConfig(name="test", landing_root=str(root / "landing"), lakehouse_root=str(root / "lake"))
    pipeline = load_pipeline(ROOT / "conf/pipelines/orders.yaml")
    layers = layers_for(pipeline, "all")
    reports = [run_pipeline(spark, env, pipeline, layers, clock=stepping_clock(STARTS[0]))]

    shutil.copytree(ROOT / "data/later/orders", landing, dirs_exist_ok=True)
    reports.append(run_pipeline(spark, env, pipeline, layers, clock=stepping_clock(STARTS[1])))

    (landing / THIRD_FILE).write_text("".join(json.dumps(r) + "\n" for r in THIRD_ROWS))
    reports.append(run_pipeline(spark, env, strict_pipeline(pipeline), layers, clock=stepping_clock(STARTS[2])))
    assert [r.ok for r in reports] == [True, True, False], [r.to_text() for r in reports]
    return SampleLakehouse(env, pipeline, reports, root)
