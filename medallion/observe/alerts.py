"""Webhook alerts: one JSON post per ``notify:`` target per run, in the shape Teams and Slack both accept.

Events (a target lists the ones it wants in ``on:``):

* ``run_failed``: a layer (or a DLQ replay) of the run failed;
* ``check_failed``: a declared check with ``action: fail`` did not pass in this run;
* ``dead_letters``: a dataset of the run has more pending dead letters than the target's
  ``dead_letters_above`` (pending in total, so the alert repeats every run until they are dealt with);
* ``stale``: a ``freshness`` check did not pass in this run (whatever its action).

The post is ``{"text": "..."}`` (Slack incoming webhooks and Teams' webhooks / Workflows accept it),
retried with tenacity (3 attempts, short backoff) on connection errors, timeouts, 429 and 5xx.
Nothing here fails a run: errors are logged and swallowed. Webhook URLs are never logged (a target
is named by its position), and the message goes through :func:`~medallion.logs.mask_secrets`.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from medallion.audit.outcome import Status
from medallion.logs import mask_secrets

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from medallion.audit.run_log import RunRecord
    from medallion.config import EnvConfig, PipelineConfig
    from medallion.config.observe import NotifyTarget

__all__ = ["Finding", "findings", "message", "notify_run", "post"]

log = logging.getLogger(__name__)

ATTEMPTS = 3
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Finding:
    """One reason to alert: its event, the dataset, a one-line text and (dead letters) the count."""

    event: str
    pipeline: str
    text: str
    count: int = 0

    def wanted_by(self, target: NotifyTarget) -> bool:
        if self.event not in target.on:
            return False
        return self.event != "dead_letters" or self.count > target.dead_letters_above


def findings(spark: SparkSession | None, env: EnvConfig, run_id: str, pipelines: Sequence[PipelineConfig],
             records: Sequence[RunRecord]) -> list[Finding]:
    """What of the run is worth an alert (checks and dead letters are read only if a target wants them)."""
    wanted = {e for t in env.notify for e in t.on}
    out = [Finding("run_failed", r.pipeline, f"{r.pipeline} {r.layer} failed: {(r.error or '')[:300]}")
           for r in records if r.status == Status.FAILED]
    if spark is not None and wanted & {"check_failed", "stale"}:
        out += _check_findings(spark, env, run_id)
    if spark is not None and "dead_letters" in wanted:
        out += _dead_letter_findings(spark, env, pipelines)
    return out


def _check_findings(spark: SparkSession, env: EnvConfig, run_id: str) -> list[Finding]:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from medallion.checks.declared_checks import CHECK_COLUMNS as CHECKS

    if not DeltaTable.isDeltaTable(spark, env.checks_path):
        return []
    rows = (spark.read.format("delta").load(env.checks_path)
            .where((F.col(CHECKS.run_id) == run_id) & ~F.col(CHECKS.passed)).collect())
    out = []
    for r in rows:
        text = f"{r[CHECKS.table]} check {r[CHECKS.name]} ({r[CHECKS.kind]}) did not pass: observed {r[CHECKS.observed]}, threshold {r[CHECKS.threshold]}"
        dataset = str(r[CHECKS.table]).split("/", 1)[-1]
        if r[CHECKS.action] == "fail":
            out.append(Finding("check_failed", dataset, text))
        if r[CHECKS.kind] == "freshness":
            out.append(Finding("stale", dataset, f"stale data: {text}"))
    return out


def _dead_letter_findings(spark: SparkSession, env: EnvConfig, pipelines: Sequence[PipelineConfig]) -> list[Finding]:
    from medallion.dlq.commands import DlqStatus, read_dead_letters, status_of

    out = []
    for p in pipelines:
        if p.silver is None:
            continue
        dead = read_dead_letters(spark, env.table_path("silver", p.silver.dlq))
        if dead is None:
            continue
        pending = dead.where(status_of() == str(DlqStatus.PENDING)).count()
        if pending:
            out.append(Finding("dead_letters", p.dataset, f"{p.dataset}: {pending} dead letters pending in silver/{p.silver.dlq}",
                               pending))
    return out


def message(env: EnvConfig, run_id: str, found: Sequence[Finding]) -> str:
    """The alert's text: a header line, then one line per finding (secrets masked)."""
    events = sorted({f.event for f in found})
    lines = [f"medallion {env.name}: run {run_id}: {', '.join(events)}"] + [f"- {f.text}" for f in found]
    return mask_secrets("\n".join(lines))


def _retryable(err: BaseException) -> bool:
    if isinstance(err, urllib.error.HTTPError):
        return err.code == 429 or err.code >= 500
    return isinstance(err, (urllib.error.URLError, TimeoutError, ConnectionError))


@retry(stop=stop_after_attempt(ATTEMPTS), wait=wait_exponential(multiplier=0.5, max=4),
       retry=retry_if_exception(_retryable), reraise=True)
def post(url: str, payload: dict[str, str]) -> int:
    """POST ``payload`` as JSON to ``url``; returns the HTTP status (raises after the last attempt)."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - the env's webhook URL
        return int(response.status)


def notify_run(spark: SparkSession | None, env: EnvConfig, run_id: str, pipelines: Sequence[PipelineConfig],
               records: Sequence[RunRecord]) -> int:
    """Post one alert to each target that wants something of this run; returns how many were sent.

    Never raises: a failing webhook, or a failure to read checks / dead letters, is logged.
    """
    if not any(t.url for t in env.notify):
        return 0
    try:
        found = findings(spark, env, run_id, pipelines, records)
    except Exception as err:  # noqa: BLE001 - alerts must never fail a run
        log.warning("alerts: could not evaluate run %s: %s", run_id, mask_secrets(f"{type(err).__name__}: {err}")[:300])
        found = [Finding("run_failed", r.pipeline, f"{r.pipeline} {r.layer} failed") for r in records if r.status == Status.FAILED]
    sent = 0
    for i, target in enumerate(env.notify, start=1):
        mine = [f for f in found if f.wanted_by(target)]
        if not mine or not target.url:
            continue
        try:
            post(target.url, {"text": message(env, run_id, mine)})
        except Exception as err:  # noqa: BLE001
            reason = f"{type(err).__name__}: {err}".replace(target.url, "<webhook>")
            log.warning("alerts: webhook %d of %d not reached after %d attempts: %s", i, len(env.notify), ATTEMPTS,
                        mask_secrets(reason)[:300])
        else:
            sent += 1
            log.info("alerts: webhook %d of %d told of %s", i, len(env.notify), ", ".join(sorted({f.event for f in mine})))
    return sent
