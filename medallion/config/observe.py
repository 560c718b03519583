"""Typed configuration of the env file's observability keys: ``lineage:`` and ``notify:``.

Both are optional and off by default. ``lineage:`` turns on OpenLineage events for every layer run
(:mod:`medallion.observe.lineage`); ``notify:`` lists incoming webhooks (Teams / Slack) that
:mod:`medallion.observe.alerts` posts to. URLs come from the environment through ``${VAR}`` in the env file;
they are never logged.

Example:
    >>> LineageConfig(namespace="medallion-dev", transport={"type": "console"})
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from medallion.config.base import ConfigModel, SqlText

__all__ = ["LineageConfig", "LineageTransport", "NotifyTarget", "ALERT_EVENTS", "CircuitBreakerConfig"]

#: What a ``notify:`` entry may subscribe to.
ALERT_EVENTS = ("run_failed", "check_failed", "dead_letters", "stale")
AlertEvent = Literal["run_failed", "check_failed", "dead_letters", "stale"]


class LineageTransport(ConfigModel):
    """Where OpenLineage events go: ``http`` (``url``, e.g. Marquez or Purview's bridge), ``file``
    (``path``, one JSON event per line) or ``console`` (the log)."""

    type: Literal["http", "file", "console"]
    url: str | None = None  # "" (an unset ``${OPENLINEAGE_URL:-}``): no events
    endpoint: str = "api/v1/lineage"
    path: SqlText | None = None
    timeout: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _needs(self) -> LineageTransport:
        if self.type == "http" and self.url is None:
            raise ValueError("transport type http needs url")
        if self.type == "file" and not self.path:
            raise ValueError("transport type file needs path")
        return self


class LineageConfig(ConfigModel):
    """``lineage:``: OpenLineage events per layer run and DLQ replay (absent: no events)."""

    enabled: bool = True
    namespace: SqlText | None = None  # the jobs' namespace; default ``medallion-{env name}``
    transport: LineageTransport

    @property
    def active(self) -> bool:
        """On, and somewhere to send to (an http url that expanded to "" turns events off)."""
        return self.enabled and not (self.transport.type == "http" and not self.transport.url)


class NotifyTarget(ConfigModel):
    """One ``notify:`` entry: an incoming-webhook URL and the events it is told about."""

    url: str  # "" (an unset ``${ALERT_WEBHOOK_URL:-}``): this target is skipped
    on: list[AlertEvent] = Field(default_factory=lambda: list(ALERT_EVENTS), min_length=1)
    dead_letters_above: int = Field(default=0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # YAML 1.1 (PyYAML) reads a bare `on:` key as the boolean true
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data


class CircuitBreakerConfig(ConfigModel):
    """``circuit_breaker:`` in the env file: open after this many consecutive failed runs of a dataset."""

    open_after_failures: int = Field(ge=1)
