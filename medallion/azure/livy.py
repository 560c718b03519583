"""Synapse Spark batch jobs through the workspace's Livy API, and the decisions around them.

Everything the submit step needs to decide lives here, so CI can test it: which Livy states mean success
or failure, polling that survives transient errors and token renewals, cancelling the batch on *every*
way out (timeout, auth failure, error, signal), and the driver's stderr from the Spark history server.
The request body it posts (the job, the wheel, the configuration and the dependency archive) is built
by :mod:`medallion.azure.payload`.

The REST surface is the ``SparkBatch`` subset of Microsoft's published spec
(``specification/synapse/data-plane/Microsoft.Synapse/preview/2019-11-01-preview/sparkJob.json``)::

    POST   {endpoint}/livyApi/versions/2019-11-01-preview/sparkPools/{pool}/batches?detailed=true
    GET    .../batches/{id}?detailed=true
    GET    .../batches?from=0&size=20
    DELETE .../batches/{id}

plus the Spark history endpoint Synapse Studio uses for driver logs::

    GET {endpoint}/sparkhistory/api/v1/sparkpools/{pool}/livyid/{id}/applications/{appId}/driverlog/stderr/?isDownload=true

Requests carry a bearer token for ``https://dev.azuresynapse.net``, asked from the credential before
every request (see :mod:`medallion.azure.credentials`); it is never logged or printed.

Example:
    >>> classify({"state": "success", "result": "Failed"})
    <Outcome.FAILED: 'failed'>
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import quote

from medallion.azure.credentials import SYNAPSE_SCOPE, AccessTokenLike, TokenCredential, describe_token
from medallion.errors import ConfigError, RunError

__all__ = [
    "LIVY_API_VERSION",
    "Outcome",
    "LivyError",
    "LivyAuthError",
    "BatchAborted",
    "LivyClient",
    "SubmitResult",
    "batches_url",
    "workspace_endpoint",
    "monitoring_url",
    "classify",
    "run_batch",
    "cancel_batch",
    "fetch_log",
    "failure_line",
    "stderr_excerpt",
]

log = logging.getLogger(__name__)

LIVY_API_VERSION = "2019-11-01-preview"

_SUCCESS_STATES = frozenset({"success"})
_FAILURE_STATES = frozenset({"dead", "killed", "error"})
_FAILED_RESULTS = frozenset({"failed", "cancelled"})
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_LOG_TAIL = 200
_STDERR_TAIL = 80


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

    @property
    def transient(self) -> bool:
        """A connection error, a timeout, 429 or a 5xx: worth another try later."""
        return self.status is None or self.status in _TRANSIENT_STATUS


class LivyAuthError(LivyError):
    """401 (the token: expired, or for another audience) or 403 (the identity lacks a role)."""

    def __init__(self, message: str, *, status: int, expired: bool = False) -> None:
        self.expired = expired
        super().__init__(message, status=status)

    @property
    def transient(self) -> bool:
        return False


class BatchAborted(RunError):
    """Polling stopped before the batch ended (auth failure, error, signal); says whether it was cancelled."""

    def __init__(self, message: str, *, batch_id: int, cancelled: bool) -> None:
        self.batch_id = batch_id
        self.cancelled = cancelled
        super().__init__(message)


# --------------------------------------------------------------------------- addresses


def workspace_endpoint(workspace: str) -> str:
    """``https://{workspace}.dev.azuresynapse.net``."""
    return f"https://{workspace}.dev.azuresynapse.net"


def batches_url(endpoint: str, pool: str) -> str:
    """The ``/batches`` collection of a Spark pool under ``endpoint``."""
    _check_pool(pool)
    return f"{endpoint.rstrip('/')}/livyApi/versions/{LIVY_API_VERSION}/sparkPools/{pool}/batches"


def _check_pool(pool: str) -> None:
    if not pool or "/" in pool:
        raise ConfigError(f"invalid Spark pool name {pool!r}", key="pool")


def monitoring_url(*, workspace: str, pool: str, batch_name: str, batch_id: int,
                   subscription_id: str | None = None, resource_group: str | None = None) -> str | None:
    """The Synapse Studio page of a batch (Monitor -> Apache Spark applications), when the ids are known."""
    if not (subscription_id and resource_group and workspace):
        return None
    resource = (f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
                f"/providers/Microsoft.Synapse/workspaces/{workspace}")
    return (f"https://web.azuresynapse.net/en/monitoring/sparkapplication/{quote(batch_name, safe='')}"
            f"?workspace={quote(resource, safe='/')}&livyId={batch_id}&sparkPoolName={quote(pool, safe='')}")


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


class LivyClient:
    """A small client for the ``SparkBatch`` operations of one Spark pool (and its driver logs).

    Args:
        endpoint: the workspace endpoint (``https://{workspace}.dev.azuresynapse.net``).
        pool: the Spark pool name.
        credential: an azure-core ``TokenCredential``; asked for a ``SYNAPSE_SCOPE`` token before every
            request (azure-identity credentials cache and renew them).
        session: a ``requests.Session`` (one is created when omitted).
        request_timeout: seconds per HTTP request.
        retries: extra attempts for idempotent requests (GET, DELETE) on 429/5xx or connection errors.
        retry_wait: first pause between attempts in seconds (doubled each time, at most 30 s); default
            ``RETRY_WAIT``.
    """

    RETRY_WAIT = 2.0

    def __init__(
        self,
        endpoint: str,
        pool: str,
        credential: TokenCredential,
        *,
        session: Any | None = None,
        request_timeout: float = 60.0,
        retries: int = 3,
        retry_wait: float | None = None,
    ) -> None:
        import requests

        _check_pool(pool)
        self.endpoint = endpoint.rstrip("/")
        self.pool = pool
        self.url = batches_url(self.endpoint, pool)
        self._credential = credential
        self._session = session or requests.Session()
        self._timeout = request_timeout
        self._retries = retries
        self._retry_wait = self.RETRY_WAIT if retry_wait is None else retry_wait

    def __repr__(self) -> str:
        return f"LivyClient({self.url!r})"

    def _token(self) -> AccessTokenLike:
        try:
            return self._credential.get_token(SYNAPSE_SCOPE)
        except Exception as err:  # azure-identity's ClientAuthenticationError and friends
            raise LivyAuthError(
                f"could not get an access token for {SYNAPSE_SCOPE} from {type(self._credential).__name__}: "
                f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
                status=401,
            ) from err

    def _send(self, method: str, url: str, *, params: Mapping[str, Any] | None, body: Any, accept: str,
              token: AccessTokenLike) -> Any:
        headers = {"Authorization": f"Bearer {token.token}", "Accept": accept}
        return self._session.request(method, url, params=params, json=body, headers=headers, timeout=self._timeout)

    def _request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                 body: Mapping[str, Any] | None = None, idempotent: bool = True, text: bool = False) -> Any:
        import requests

        attempts = 1 + (self._retries if idempotent else 0)
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            token = self._token()
            try:
                response = self._send(method, url, params=params, body=body, token=token,
                                      accept="text/plain, */*" if text else "application/json")
            except requests.RequestException as err:
                if attempt < attempts:
                    log.warning("%s %s failed (%s); retrying", method, url, type(err).__name__)
                    time.sleep(min(self._retry_wait * 2 ** (attempt - 1), 30.0))
                    continue
                raise LivyError(f"{method} {url} failed: {type(err).__name__}") from err
            status = response.status_code
            if status in _TRANSIENT_STATUS and attempt < attempts:
                log.warning("%s %s -> HTTP %s; retrying", method, url, status)
                time.sleep(min(self._retry_wait * 2 ** (attempt - 1), 30.0))
                continue
            if status == 401 and not renewed and getattr(self._credential, "renewable", True):
                # a token can be refused a little before its announced expiry (clock skew, revocation):
                # ask the credential again once before giving up (azure-identity renews what expired)
                renewed = True
                attempt -= 1
                log.warning("%s %s -> HTTP 401; asking the credential for a fresh token", method, url)
                continue
            if status in (401, 403):
                raise self._auth_error(method, url, status, token, response)
            if status >= 400:
                raise LivyError(f"{method} {url} -> HTTP {status}: {response.text[:500]}", status=status)
            if text:
                return response.text
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError as err:
                raise LivyError(f"{method} {url} answered non-JSON content") from err

    def _auth_error(self, method: str, url: str, status: int, token: AccessTokenLike, response: Any) -> LivyAuthError:
        about = describe_token(token.token)
        source = type(self._credential).__name__
        if status == 403:
            return LivyAuthError(
                f"{method} {url} -> HTTP 403: the identity is signed in but lacks a role: it needs the Synapse RBAC "
                f"role Synapse Compute Operator (or higher) on the workspace or the pool ({about})",
                status=403,
            )
        expired = bool(token.expires_on) and token.expires_on <= time.time()
        if expired:
            hint = ("the token expired and this credential cannot renew it; in Azure Pipelines map "
                    "SYSTEM_ACCESSTOKEN so AzurePipelinesCredential renews tokens for the whole run"
                    if not getattr(self._credential, "renewable", True) else "the renewed token expired too")
            what = f"the access token expired ({about}): {hint}"
        else:
            what = (f"the access token was refused ({about}, from {source}): expected audience "
                    "https://dev.azuresynapse.net and the workspace's tenant; a missing role answers 403, not 401")
        detail = (response.text or "").strip()[:200]
        return LivyAuthError(f"{method} {url} -> HTTP 401: {what}" + (f" [{detail}]" if detail else ""),
                             status=401, expired=expired)

    def create(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Create a batch (never retried: a retry could start the job twice)."""
        batch = self._request("POST", self.url, params={"detailed": "true"}, body=payload, idempotent=False)
        if not isinstance(batch, dict) or not isinstance(batch.get("id"), int):
            raise LivyError(f"POST {self.url} answered without a batch id")
        return batch

    def get(self, batch_id: int) -> dict[str, Any]:
        batch = self._request("GET", f"{self.url}/{batch_id}", params={"detailed": "true"})
        if not isinstance(batch, dict):
            raise LivyError(f"GET {self.url}/{batch_id} answered no batch")
        return batch

    def list(self, *, start: int = 0, size: int = 20) -> dict[str, Any]:
        return self._request("GET", self.url, params={"from": start, "size": size, "detailed": "true"}) or {}

    def cancel(self, batch_id: int) -> None:
        self._request("DELETE", f"{self.url}/{batch_id}")

    def log(self, batch_id: int, *, size: int = _LOG_TAIL, start: int | None = None) -> list[str]:
        """Livy's ``GET /batches/{id}/log``: the launcher's lines (not the driver's output on Synapse)."""
        params: dict[str, Any] = {"size": size}
        if start is not None:
            params["from"] = start
        answer = self._request("GET", f"{self.url}/{batch_id}/log", params=params) or {}
        return [str(line) for line in answer.get("log") or []]

    def driver_log(self, batch_id: int, app_id: str, stream: str = "stderr") -> str:
        """The driver's stderr (or stdout) from the Spark history endpoint Synapse Studio uses."""
        if stream not in ("stderr", "stdout"):
            raise ValueError(f"stream must be stderr or stdout, not {stream!r}")
        url = (f"{self.endpoint}/sparkhistory/api/v1/sparkpools/{self.pool}/livyid/{batch_id}"
               f"/applications/{quote(app_id, safe='')}/driverlog/{stream}/")
        return self._request("GET", url, params={"isDownload": "true"}, text=True) or ""


def fetch_log(client: LivyClient, batch_id: int, batch: Mapping[str, Any] | None = None,
              *, tail: int = _LOG_TAIL) -> list[str]:
    """The last ``tail`` launcher lines of a batch: Livy's ``/log`` if served, else the batch's ``log`` field."""
    try:
        lines = client.log(batch_id, size=tail)
        if lines:
            return lines
    except LivyError as err:
        log.info("log endpoint unavailable for batch %s (%s); using the batch's log lines", batch_id, err.status)
    if batch is None:
        batch = client.get(batch_id)
    return [str(line) for line in (batch.get("log") or [])][-tail:]


def cancel_batch(client: LivyClient, batch_id: int) -> bool:
    """DELETE a batch; True when the service accepted it (a finished or unknown batch counts as gone)."""
    try:
        client.cancel(batch_id)
    except LivyError as err:
        if err.status == 404:
            return True
        log.error("cancelling batch %s failed: %s", batch_id, err)
        return False
    log.warning("cancelled Synapse batch %s", batch_id)
    return True


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
    driver_stderr: list[str] = field(default_factory=list)
    driver_stdout: list[str] = field(default_factory=list)
    poll_errors: int = 0

    @property
    def failure(self) -> str:
        """The line that says what failed (a Python exception goes to the driver's stdout on YARN, where
        Spark's PythonRunner merges the Python process's stderr into it; Spark's own errors to stderr)."""
        return failure_line(self.driver_stdout) or failure_line(self.driver_stderr)

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
            "poll_errors": self.poll_errors,
            "log": list(self.log_lines),
            "driver_stderr": list(self.driver_stderr),
            "driver_stdout": list(self.driver_stdout),
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
    stderr_tail: int = _STDERR_TAIL,
) -> SubmitResult:
    """Create a batch and poll it until a terminal state or the timeout.

    The batch is cancelled (``DELETE``) on every way out that leaves it running: the timeout (outcome
    ``TIMED_OUT``), an authentication failure, any other error, and ``KeyboardInterrupt`` / a signal
    turned into an exception by the caller. Transient poll errors (connection, 429, 5xx) are logged and
    polling goes on until the deadline. On failure, the launcher's log lines and the last ``stderr_tail``
    lines of the driver's stderr and stdout (with the last Python traceback) are fetched.

    Raises:
        BatchAborted: polling stopped on an error before the batch ended (it names the batch and whether
            it was cancelled); the original error is its ``__cause__``.
    """
    started = clock()
    batch = client.create(payload)
    batch_id = int(batch["id"])
    name = str(batch.get("name") or payload.get("name") or "")
    log.info("created Synapse batch %s (%s), state %s", batch_id, name, batch.get("state"))
    ended = False
    poll_errors = 0
    try:
        if on_created is not None:
            on_created(batch)
        last_state = str(batch.get("state") or "")
        while True:
            outcome = classify(batch)
            if outcome is not Outcome.RUNNING:
                ended = True
                break
            elapsed = clock() - started
            if elapsed >= timeout_seconds:
                log.error("batch %s still %s after %.0f s; cancelling", batch_id, last_state, elapsed)
                break
            sleep(min(poll_seconds, max(timeout_seconds - elapsed, 0.0)))
            try:
                batch = {**batch, **client.get(batch_id)}
            except LivyError as err:
                if not err.transient:
                    raise
                poll_errors += 1
                log.warning("polling batch %s failed (%s); trying again until the deadline", batch_id, err)
                continue
            state = str(batch.get("state") or "")
            if state != last_state:
                log.info("batch %s: %s -> %s", batch_id, last_state, state)
                last_state = state
    except Exception as err:
        cancelled = cancel_batch(client, batch_id)
        what = "it was cancelled" if cancelled else f"it could NOT be cancelled: delete batch {batch_id} by hand"
        raise BatchAborted(f"Synapse batch {batch_id} ({name}): {err}; {what}", batch_id=batch_id,
                           cancelled=cancelled) from err
    except BaseException:  # KeyboardInterrupt, or a signal the CLI turned into an exception
        cancel_batch(client, batch_id)
        raise
    elapsed = clock() - started
    app_id = batch.get("appId")
    if not ended:
        cancelled = cancel_batch(client, batch_id)
        lines = _safe_log(client, batch_id, None)
        return SubmitResult(batch_id, name, str(batch.get("state") or ""), batch.get("result"), Outcome.TIMED_OUT,
                            elapsed, app_id, lines, cancelled=cancelled,
                            driver_stderr=_driver_log(client, batch_id, app_id, "stderr", stderr_tail),
                            driver_stdout=_driver_log(client, batch_id, app_id, "stdout", stderr_tail),
                            poll_errors=poll_errors)
    if outcome is Outcome.SUCCEEDED:
        return SubmitResult(batch_id, name, str(batch.get("state")), batch.get("result"), outcome, elapsed, app_id,
                            poll_errors=poll_errors)
    return SubmitResult(batch_id, name, str(batch.get("state")), batch.get("result"), outcome, elapsed, app_id,
                        _safe_log(client, batch_id, batch),
                        driver_stderr=_driver_log(client, batch_id, app_id, "stderr", stderr_tail),
                        driver_stdout=_driver_log(client, batch_id, app_id, "stdout", stderr_tail),
                        poll_errors=poll_errors)


def _safe_log(client: LivyClient, batch_id: int, batch: Mapping[str, Any] | None) -> list[str]:
    try:
        return fetch_log(client, batch_id, batch)
    except LivyError as err:
        log.warning("could not fetch the log of batch %s: %s", batch_id, err)
        return []


def _driver_log(client: LivyClient, batch_id: int, app_id: Any, stream: str, tail: int) -> list[str]:
    if not app_id:
        log.info("batch %s never got a Spark application id; no driver log to fetch", batch_id)
        return []
    try:
        text = client.driver_log(batch_id, str(app_id), stream)
    except LivyError as err:
        log.warning("could not fetch the driver %s of batch %s (%s): %s", stream, batch_id, app_id, err)
        return []
    return stderr_excerpt(text.splitlines(), tail)


def stderr_excerpt(lines: list[str], tail: int = _STDERR_TAIL) -> list[str]:
    """The last ``tail`` lines, plus the last Python traceback when Spark's shutdown logging pushed it out."""
    start = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("Traceback (most recent")), None)
    if start is None or start >= len(lines) - tail:
        return lines[-tail:]
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not _EXCEPTION.match(lines[end - 1])):
        end += 1
    head = lines[start:min(end, start + tail)]
    return [*head, "[...]", *lines[-max(tail - len(head), 10):]]


def failure_line(lines: list[str]) -> str:
    """The line that says what failed: the last ``SomeError: ...`` line, else the last non-empty one."""
    for line in reversed(lines):
        if _EXCEPTION.match(line):
            return line.strip()
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Failed)\b.*")
