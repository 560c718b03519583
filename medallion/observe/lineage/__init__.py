"""OpenLineage events for every layer run and DLQ replay, sent with the ``openlineage-python`` client.

Off unless the env file has a ``lineage:`` section (see :class:`~medallion.config.observe.LineageConfig`):

.. code-block:: yaml

    lineage:
      namespace: medallion-dev
      transport: {type: http, url: "${OPENLINEAGE_URL}"}   # or {type: file, path: ...} | {type: console}

The runner calls :func:`layer_started` before a layer and :func:`layer_ended` after it. Emission never
fails a run: every error is logged (secrets masked) and swallowed.
"""
from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from medallion.logs import mask_secrets

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medallion.audit.run_log import RunRecord
    from medallion.config import EnvConfig, PipelineConfig
    from medallion.config.observe import LineageTransport

__all__ = ["layer_started", "layer_ended", "enabled"]

log = logging.getLogger(__name__)

#: The HTTP transport's retries: bounded, so an unreachable receiver costs seconds, not minutes.
_HTTP_RETRY = {"total": 2, "read": 2, "connect": 2, "backoff_factor": 0.3,
               "status_forcelist": [500, 502, 503, 504], "allowed_methods": ["HEAD", "POST"]}


def enabled(env: EnvConfig) -> bool:
    return env.lineage is not None and env.lineage.active


@functools.lru_cache(maxsize=8)
def _client(transport: LineageTransport) -> Any:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport import get_default_factory

    config: dict[str, Any] = {"type": transport.type}
    if transport.type == "http":
        config.update(url=transport.url, endpoint=transport.endpoint, timeout=transport.timeout, retry=_HTTP_RETRY)
    elif transport.type == "file":
        config.update(log_file_path=transport.path, append=True)
    return OpenLineageClient(transport=get_default_factory().create(config=config))


def _emit(env: EnvConfig, build: Any, what: str) -> None:
    try:
        event = build()
        assert env.lineage is not None
        _client(env.lineage.transport).emit(event)
        log.info("lineage: %s %s sent", event.job.name, event.eventType.value)
    except Exception as err:  # noqa: BLE001 - lineage must never fail a run
        url = env.lineage.transport.url if env.lineage is not None else None
        text = f"{type(err).__name__}: {err}"
        if url:
            text = text.replace(url, "<lineage url>")
        log.warning("lineage: %s event not sent: %s", what, mask_secrets(text)[:500])


def layer_started(spark: SparkSession | None, env: EnvConfig, pipeline: PipelineConfig, record: RunRecord) -> None:
    """Send START for the layer run ``record`` describes (its counts are not used)."""
    if not enabled(env):
        return
    def build() -> Any:
        from medallion.observe.lineage.events import start_event  # openlineage-python: the `lineage` extra

        return start_event(env, pipeline, record, spark_version=spark.version if spark is not None else None)

    _emit(env, build, f"{pipeline.dataset} {record.layer} START")


def layer_ended(spark: SparkSession | None, env: EnvConfig, pipeline: PipelineConfig, record: RunRecord) -> None:
    """Send COMPLETE (succeeded / skipped) or FAIL for a finished layer run."""
    if not enabled(env):
        return
    def build() -> Any:
        from medallion.observe.lineage.events import end_event

        return end_event(spark, env, pipeline, record)

    _emit(env, build, f"{pipeline.dataset} {record.layer} end")
