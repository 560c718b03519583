"""The runner's hooks for observability: OpenLineage events per layer run, webhook alerts per run.

Each hook is a no-op unless the env file turns its feature on (``lineage:``, ``notify:``), and none
of them ever raises into the run.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from medallion.audit.outcome import RunContext, Status
from medallion.audit.run_log import RunRecord

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medallion.config import EnvConfig, PipelineConfig

__all__ = ["layer_started", "layer_ended", "run_ended", "FORWARDED_ENV", "driver_env_conf"]

#: Environment variables ``medallion submit`` hands to the Synapse driver (env files read them as
#: ``${OPENLINEAGE_URL:-}`` / ``${ALERT_WEBHOOK_URL:-}``).
FORWARDED_ENV = ("OPENLINEAGE_URL", "ALERT_WEBHOOK_URL")

log = logging.getLogger(__name__)


def driver_env_conf(environ: Mapping[str, str]) -> dict[str, str]:
    """``spark.yarn.appMasterEnv.NAME`` settings for the :data:`FORWARDED_ENV` variables that are set
    (an Azure Pipelines macro of an undefined variable, ``$(name)``, counts as unset)."""
    return {f"spark.yarn.appMasterEnv.{name}": environ[name] for name in FORWARDED_ENV
            if environ.get(name) and not environ[name].startswith("$(")}


def layer_started(spark: SparkSession | None, env: EnvConfig, pipeline: PipelineConfig, layer: str, run: RunContext) -> None:
    """Before a layer (or DLQ replay) runs: OpenLineage START."""
    if env.lineage is None:
        return
    from medallion.observe import lineage

    record = RunRecord(run.run_id, pipeline.dataset, env.name, layer, "", Status.SUCCEEDED, started_at=run.now)
    lineage.layer_started(spark, env, pipeline, record)


def layer_ended(spark: SparkSession | None, env: EnvConfig, pipeline: PipelineConfig, record: RunRecord) -> None:
    """After a layer run's record is written: OpenLineage COMPLETE or FAIL."""
    if env.lineage is None:
        return
    from medallion.observe import lineage

    lineage.layer_ended(spark, env, pipeline, record)


def run_ended(spark: SparkSession | None, env: EnvConfig, run_id: str, pipelines: Sequence[PipelineConfig],
              records: Sequence[RunRecord]) -> None:
    """After a run: webhook alerts for what went wrong in it."""
    if not env.notify:
        return
    from medallion.observe.alerts import notify_run

    notify_run(spark, env, run_id, pipelines, records)
