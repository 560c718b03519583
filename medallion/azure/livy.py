"""Synapse Spark batch jobs through the workspace's Livy API, and the decisions around them.

Everything the PowerShell script ``Submit-SynapseSparkJob.ps1`` needs to decide lives here, so CI can
test it: the request payload, which Livy states mean success or failure, polling with a timeout that
cancels the batch, fetching the job's log lines, and the Azure DevOps logging commands that report it.

The REST surface is the ``SparkBatch`` subset of Microsoft's published spec
(``specification/synapse/data-plane/Microsoft.Synapse/preview/2019-11-01-preview/sparkJob.json``)::

    POST   {endpoint}/livyApi/versions/2019-11-01-preview/sparkPools/{pool}/batches?detailed=true
    GET    .../batches/{id}?detailed=true
    GET    .../batches?from=0&size=20
    DELETE .../batches/{id}

Requests carry a bearer token for ``https://dev.azuresynapse.net``. The token is held in memory only:
it is never logged, printed or put in an exception message.

Example:
    >>> spec = BatchSpec(artifact_root="abfss://artifacts@acct.dfs.core.windows.net/medallion/42",
    ...                  layer="bronze", pipeline="orders", environment="dev")
    >>> build_payload(spec)["file"]
    'abfss://artifacts@acct.dfs.core.windows.net/medallion/42/jobs/bronze_job.py'
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from medallion.errors import ConfigError, RunError

__all__ = [
    "LIVY_API_VERSION",
    "SYNAPSE_SCOPE",
    "EXECUTOR_SIZES",
    "LAYER_JOBS",
    "BatchSpec",
    "Outcome",
    "LivyError",
    "LivyClient",
    "StaticTokenCredential",
    "SubmitResult",
    "batches_url",
    "workspace_endpoint",
    "build_payload",
    "classify",
    "run_batch",
    "fetch_log",
    "ado_escape_data",
    "ado_escape_property",
    "ado_group",
    "ado_logissue",
    "ado_set_output",
    "neutralize_log_line",
]

log = logging.getLogger(__name__)

LIVY_API_VERSION = "2019-11-01-preview"
SYNAPSE_SCOPE = "https://dev.azuresynapse.net/.default"

# Synapse node sizes as Livy sizes (cores, memory), the values Synapse Studio uses for job definitions.
EXECUTOR_SIZES: dict[str, tuple[int, str]] = {
    "Small": (4, "28g"),
    "Medium": (8, "56g"),
    "Large": (16, "112g"),
    "XLarge": (32, "224g"),
    "XXLarge": (64, "400g"),
}

LAYER_JOBS: dict[str, str] = {
    "bronze": "jobs/bronze_job.py",
    "silver": "jobs/silver_job.py",
    "gold": "jobs/gold_job.py",
    "check": "jobs/check_job.py",  # not a layer: the post-run data-quality checks (medallion check)
}

CONF_ARCHIVE = "conf.zip"
CONF_ALIAS = "conf"

_SUCCESS_STATES = frozenset({"success"})
_FAILURE_STATES = frozenset({"dead", "killed", "error"})
_FAILED_RESULTS = frozenset({"failed", "cancelled"})
_LOG_TAIL = 200


class Outcome(Enum):
    """Where a batch stands, as far as the pipeline step is concerned."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


class LivyError(RunError):
    """The Livy endpoint refused a request or answered something unusable."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


# --------------------------------------------------------------------------- payload


def workspace_endpoint(workspace: str) -> str:
    """``https://{workspace}.dev.azuresynapse.net``."""
    return f"https://{workspace}.dev.azuresynapse.net"


def batches_url(endpoint: str, pool: str) -> str:
    """The ``/batches`` collection of a Spark pool under ``endpoint``."""
    if not pool or "/" in pool:
        raise ConfigError(f"invalid Spark pool name {pool!r}", key="pool")
    return f"{endpoint.rstrip('/')}/livyApi/versions/{LIVY_API_VERSION}/sparkPools/{pool}/batches"


@dataclass(frozen=True)
class BatchSpec:
    """What to run: one layer of one pipeline from a published artifact folder.

    Attributes:
        artifact_root: the versioned folder ``medallion publish`` created (``abfss://...``).
        layer: ``bronze``, ``silver``, ``gold``, or ``check`` (the post-run checks).
        pipeline: a pipeline name (``orders`` -> ``conf/pipelines/orders.yaml``) or a path inside conf/
            (``pipelines/orders.yaml`` or ``conf/pipelines/orders.yaml``).
        environment: the environment file name under ``conf/env``.
        wheel: the wheel's file name in ``artifact_root``.
        executor_size: a Synapse node size (see ``EXECUTOR_SIZES``); also used for the driver.
        executors: number of executors.
        conf: extra Spark settings.
        tags: extra batch tags.
        name: batch name; default ``medallion-{pipeline}-{layer}-{environment}``.
    """

    artifact_root: str
    layer: str
    pipeline: str
    environment: str
    wheel: str = "medallion-0.1.0-py3-none-any.whl"
    executor_size: str = "Small"
    executors: int = 2
    conf: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None

    @property
    def pipeline_file(self) -> str:
        """The pipeline file as the driver sees it, relative to its working directory."""
        path = self.pipeline.strip().lstrip("./")
        if path.startswith(f"{CONF_ALIAS}/"):
            return path
        if "/" in path:
            return f"{CONF_ALIAS}/{path}"
        if not path.endswith((".yaml", ".yml")):
            path = f"{path}.yaml"
        return f"{CONF_ALIAS}/pipelines/{path}"

    @property
    def pipeline_name(self) -> str:
        return self.pipeline.rsplit("/", 1)[-1].removesuffix(".yaml").removesuffix(".yml")


def build_payload(spec: BatchSpec) -> dict[str, Any]:
    """The ``SparkBatchJobOptions`` body for one layer run.

    ``conf/`` travels as ``conf.zip`` in ``archives`` with the alias ``conf``: YARN extracts it into the
    driver's working directory, so ``--conf-dir conf`` finds ``./conf`` (config loading reads local files).

    Raises:
        ConfigError: unknown layer or executor size, or a non-positive executor count.
    """
    if spec.layer not in LAYER_JOBS:
        raise ConfigError(f"unknown layer {spec.layer!r}; expected one of {sorted(LAYER_JOBS)}", key="layer")
    if spec.executor_size not in EXECUTOR_SIZES:
        raise ConfigError(
            f"unknown executor size {spec.executor_size!r}; expected one of {list(EXECUTOR_SIZES)}",
            key="executor_size",
        )
    if spec.executors < 1:
        raise ConfigError("executors must be at least 1", key="executors")
    if not spec.artifact_root.strip():
        raise ConfigError("artifact root is empty", key="artifact_root")
    root = spec.artifact_root.rstrip("/")
    cores, memory = EXECUTOR_SIZES[spec.executor_size]
    name = spec.name or f"medallion-{spec.pipeline_name}-{spec.layer}-{spec.environment}"
    tags = {
        "medallion.pipeline": spec.pipeline_name,
        "medallion.layer": spec.layer,
        "medallion.environment": spec.environment,
        **{str(k): str(v) for k, v in spec.tags.items()},
    }
    return {
        "name": name,
        "file": f"{root}/{LAYER_JOBS[spec.layer]}",
        "pyFiles": [f"{root}/{spec.wheel}"],
        "archives": [f"{root}/{CONF_ARCHIVE}#{CONF_ALIAS}"],
        "args": ["--pipeline", spec.pipeline_file, "--env", spec.environment, "--conf-dir", CONF_ALIAS],
        "conf": {str(k): str(v) for k, v in spec.conf.items()},
        "driverMemory": memory,
        "driverCores": cores,
        "executorMemory": memory,
        "executorCores": cores,
        "numExecutors": spec.executors,
        "tags": tags,
    }


# --------------------------------------------------------------------------- state


def classify(batch: Mapping[str, Any]) -> Outcome:
    """Map a ``SparkBatchJob`` to an outcome.

    Livy's ``success`` is success unless Synapse's ``result`` says Failed/Cancelled; ``dead``,
    ``killed`` and ``error`` are failures; every other state (not_started, starting, running,
    recovering, busy, idle, shutting_down, ...) is still running.
    """
    state = str(batch.get("state") or "").lower()
    result = str(batch.get("result") or "").lower()
    if state in _FAILURE_STATES:
        return Outcome.FAILED
    if state in _SUCCESS_STATES:
        return Outcome.FAILED if result in _FAILED_RESULTS else Outcome.SUCCEEDED
    return Outcome.RUNNING


# --------------------------------------------------------------------------- client


class _AccessToken(Protocol):
    token: str
    expires_on: int


class TokenCredential(Protocol):
    """The azure-core credential protocol (``DefaultAzureCredential`` satisfies it)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> _AccessToken: ...


@dataclass(frozen=True)
class _Token:
    token: str = field(repr=False)
    expires_on: int = 0


class StaticTokenCredential:
    """A credential around a token obtained elsewhere (``Get-AzAccessToken`` in the PowerShell step).

    The token is kept out of ``repr`` and logs.
    """

    def __init__(self, token: str, *, expires_on: int | None = None) -> None:
        self._token = _Token(token, expires_on if expires_on is not None else int(time.time()) + 3600)

    def __repr__(self) -> str:
        return "StaticTokenCredential(<redacted>)"

    def get_token(self, *scopes: str, **kwargs: Any) -> _AccessToken:
        return self._token


class LivyClient:
    """A small client for the ``SparkBatch`` operations of one Spark pool.

    Args:
        url: the pool's ``/batches`` URL (see :func:`batches_url`).
        credential: an azure-core ``TokenCredential``; asked for ``SYNAPSE_SCOPE`` tokens.
        session: a ``requests.Session`` (one is created when omitted).
        request_timeout: seconds per HTTP request.
        retries: extra attempts for idempotent requests (GET, DELETE) on 429/5xx or connection errors.
    """

    def __init__(
        self,
        url: str,
        credential: TokenCredential,
        *,
        session: Any | None = None,
        request_timeout: float = 60.0,
        retries: int = 3,
    ) -> None:
        import requests

        self.url = url.rstrip("/")
        self._credential = credential
        self._session = session or requests.Session()
        self._timeout = request_timeout
        self._retries = retries
        self._token: _AccessToken | None = None

    def __repr__(self) -> str:
        return f"LivyClient({self.url!r})"

    def _bearer(self) -> str:
        if self._token is None or self._token.expires_on - 300 < time.time():
            self._token = self._credential.get_token(SYNAPSE_SCOPE)
        return f"Bearer {self._token.token}"

    def _request(self, method: str, suffix: str = "", *, params: Mapping[str, Any] | None = None,
                 body: Mapping[str, Any] | None = None, idempotent: bool = True) -> Any:
        import requests

        url = f"{self.url}{suffix}"
        attempts = 1 + (self._retries if idempotent else 0)
        for attempt in range(1, attempts + 1):
            headers = {"Authorization": self._bearer(), "Accept": "application/json"}
            try:
                response = self._session.request(
                    method, url, params=params, json=body, headers=headers, timeout=self._timeout
                )
            except requests.RequestException as err:
                if attempt < attempts:
                    log.warning("%s %s failed (%s); retrying", method, url, type(err).__name__)
                    time.sleep(min(2**attempt, 30))
                    continue
                raise LivyError(f"{method} {url} failed: {type(err).__name__}") from err
            if response.status_code in (429, 500, 502, 503, 504) and attempt < attempts:
                log.warning("%s %s -> HTTP %s; retrying", method, url, response.status_code)
                time.sleep(min(2**attempt, 30))
                continue
            if response.status_code in (401, 403):
                raise LivyError(
                    f"{method} {url} -> HTTP {response.status_code}: not authorized; the identity needs the "
                    "Synapse Compute Operator role (or higher) on the workspace or pool",
                    status=response.status_code,
                )
            if response.status_code >= 400:
                raise LivyError(
                    f"{method} {url} -> HTTP {response.status_code}: {response.text[:500]}",
                    status=response.status_code,
                )
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError as err:
                raise LivyError(f"{method} {url} answered non-JSON content") from err
        raise AssertionError("unreachable")  # pragma: no cover

    def create(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Create a batch (never retried: a retry could start the job twice)."""
        batch = self._request("POST", params={"detailed": "true"}, body=payload, idempotent=False)
        if not isinstance(batch, dict) or not isinstance(batch.get("id"), int):
            raise LivyError(f"POST {self.url} answered without a batch id")
        return batch

    def get(self, batch_id: int) -> dict[str, Any]:
        batch = self._request("GET", f"/{batch_id}", params={"detailed": "true"})
        if not isinstance(batch, dict):
            raise LivyError(f"GET {self.url}/{batch_id} answered no batch")
        return batch

    def list(self, *, start: int = 0, size: int = 20) -> dict[str, Any]:
        return self._request("GET", params={"from": start, "size": size, "detailed": "true"}) or {}

    def cancel(self, batch_id: int) -> None:
        self._request("DELETE", f"/{batch_id}")

    def log(self, batch_id: int, *, size: int = _LOG_TAIL, start: int | None = None) -> list[str]:
        """Livy's ``GET /batches/{id}/log``: ``size`` lines from ``start``, or the last ``size`` lines.

        Not part of the Synapse spec, so not every endpoint serves it (see :func:`fetch_log`).
        """
        params: dict[str, Any] = {"size": size}
        if start is not None:
            params["from"] = start
        answer = self._request("GET", f"/{batch_id}/log", params=params) or {}
        return [str(line) for line in answer.get("log") or []]


def fetch_log(client: LivyClient, batch_id: int, batch: Mapping[str, Any] | None = None,
              *, tail: int = _LOG_TAIL) -> list[str]:
    """The last ``tail`` log lines of a batch: Livy's ``/log`` if served, else the batch's ``log`` field."""
    try:
        lines = client.log(batch_id, size=tail)
        if lines:
            return lines
    except LivyError as err:
        log.info("log endpoint unavailable for batch %s (%s); using the batch's log lines", batch_id, err.status)
    if batch is None:
        batch = client.get(batch_id)
    return [str(line) for line in (batch.get("log") or [])][-tail:]


# --------------------------------------------------------------------------- polling


@dataclass
class SubmitResult:
    """How a batch ended."""

    batch_id: int
    name: str
    state: str
    result: str | None
    outcome: Outcome
    elapsed_seconds: float
    app_id: str | None = None
    log_lines: list[str] = field(default_factory=list)
    cancelled: bool = False

    @property
    def exit_code(self) -> int:
        return 0 if self.outcome is Outcome.SUCCEEDED else 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "name": self.name,
            "state": self.state,
            "result": self.result,
            "outcome": self.outcome.value,
            "elapsed_seconds": round(self.elapsed_seconds, 1),
            "app_id": self.app_id,
            "cancelled": self.cancelled,
            "log": list(self.log_lines),
        }


def run_batch(
    client: LivyClient,
    payload: Mapping[str, Any],
    *,
    timeout_seconds: float,
    poll_seconds: float = 15.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_created: Callable[[Mapping[str, Any]], None] | None = None,
) -> SubmitResult:
    """Create a batch and poll it until a terminal state or the timeout.

    On timeout the batch is cancelled (``DELETE``) and the outcome is ``TIMED_OUT``. Log lines are
    fetched for every outcome but success.

    Args:
        client: the pool's client.
        payload: the body from :func:`build_payload`.
        timeout_seconds: wall time allowed from creation to a terminal state.
        poll_seconds: pause between polls.
        clock, sleep: injectable for tests.
        on_created: called once with the created batch (e.g. to publish its id as early as possible).
    """
    started = clock()
    batch = client.create(payload)
    batch_id = int(batch["id"])
    name = str(batch.get("name") or payload.get("name") or "")
    log.info("created Synapse batch %s (%s), state %s", batch_id, name, batch.get("state"))
    if on_created is not None:
        on_created(batch)
    last_state = str(batch.get("state") or "")
    while True:
        outcome = classify(batch)
        if outcome is not Outcome.RUNNING:
            break
        elapsed = clock() - started
        if elapsed >= timeout_seconds:
            log.error("batch %s still %s after %.0f s; cancelling", batch_id, last_state, elapsed)
            try:
                client.cancel(batch_id)
            except LivyError as err:
                log.error("cancelling batch %s failed: %s", batch_id, err)
            lines = _safe_log(client, batch_id, None)
            return SubmitResult(batch_id, name, last_state, batch.get("result"), Outcome.TIMED_OUT, elapsed,
                                batch.get("appId"), lines, cancelled=True)
        sleep(min(poll_seconds, max(timeout_seconds - elapsed, 0.0)))
        batch = client.get(batch_id)
        state = str(batch.get("state") or "")
        if state != last_state:
            log.info("batch %s: %s -> %s", batch_id, last_state, state)
            last_state = state
    elapsed = clock() - started
    lines = [] if outcome is Outcome.SUCCEEDED else _safe_log(client, batch_id, batch)
    return SubmitResult(batch_id, name, last_state, batch.get("result"), outcome, elapsed, batch.get("appId"), lines)


def _safe_log(client: LivyClient, batch_id: int, batch: Mapping[str, Any] | None) -> list[str]:
    try:
        return fetch_log(client, batch_id, batch)
    except LivyError as err:
        log.warning("could not fetch the log of batch %s: %s", batch_id, err)
        return []


# --------------------------------------------------------------------------- Azure DevOps logging commands


def ado_escape_data(text: str) -> str:
    """Escape a logging command's message (the agent's ``%AZP25``/``%0D``/``%0A`` rules)."""
    return text.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")


def ado_escape_property(text: str) -> str:
    """Escape a logging command's property value (also ``;`` and ``]``)."""
    return ado_escape_data(text).replace("]", "%5D").replace(";", "%3B")


def neutralize_log_line(line: str) -> str:
    """Stop a job's log line from being read as a logging command (``##vso[``, ``##[``)."""
    return line.replace("##vso[", "# #vso[").replace("##[", "# #[")


def ado_group(title: str, lines: Iterable[str]) -> list[str]:
    """A collapsible ``##[group]`` of neutralized lines."""
    out = [f"##[group]{neutralize_log_line(title)}"]
    out.extend(neutralize_log_line(line.rstrip("\r\n")) for line in lines)
    out.append("##[endgroup]")
    return out


def ado_logissue(kind: str, message: str) -> str:
    """``##vso[task.logissue type=error|warning]message``."""
    if kind not in ("error", "warning"):
        raise ValueError(f"logissue type must be error or warning, not {kind!r}")
    return f"##vso[task.logissue type={kind}]{ado_escape_data(message)}"


def ado_set_output(name: str, value: str) -> str:
    """``##vso[task.setvariable variable=NAME;isOutput=true]VALUE`` (an output variable of the step)."""
    return f"##vso[task.setvariable variable={ado_escape_property(name)};isOutput=true]{ado_escape_data(value)}"
