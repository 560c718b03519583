"""Synapse Spark batch jobs through the workspace's Livy API, and the decisions around them.

What the submit step needs to decide about the service lives here, so CI can test it: which Livy states
mean success or failure, which errors are worth another try, when a refused token is renewed and how a
refusal is explained, and where the driver's stderr is on the Spark history server. The request body
(the job, the wheel, the configuration and the dependency archive) is built by
:mod:`medallion.azure.payload`; polling a batch to its end, and cancelling it on *every* way out
(timeout, auth failure, error, signal), is :mod:`medallion.azure.polling`.

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
import time
from collections.abc import Mapping
from enum import Enum
from typing import Any
from urllib.parse import quote, urlsplit

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from medallion.azure.credentials import SYNAPSE_SCOPE, AccessTokenLike, TokenCredential, describe_token
from medallion.errors import ConfigError, RunError

__all__ = [
    "LIVY_API_VERSION",
    "Outcome",
    "LivyError",
    "LivyAuthError",
    "LivyClient",
    "batches_url",
    "workspace_endpoint",
    "monitoring_url",
    "classify",
    "cancel_batch",
    "fetch_log",
]

log = logging.getLogger(__name__)

LIVY_API_VERSION = "2019-11-01-preview"

_SUCCESS_STATES = frozenset({"success"})
_FAILURE_STATES = frozenset({"dead", "killed", "error", "cancelled"})
_FAILED_RESULTS = frozenset({"failed", "cancelled"})
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_LOG_TAIL = 200


class _Transient(Exception):
    """A request worth retrying: it did not reach Livy, or Livy answered with a transient status."""

    def __init__(self, message: str, *, response: Any = None, token: AccessTokenLike | None = None) -> None:
        super().__init__(message)
        self.response, self.token = response, token


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
    ``killed``, ``error`` (and ``cancelled``) are failures; every other state (not_started, starting, running,
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
    # what differs per service (a Fabric client overrides these; see medallion.azure.fabric)
    SERVICE = "Synapse"
    SCOPE = SYNAPSE_SCOPE
    AUDIENCE = "https://dev.azuresynapse.net"
    ROLE_HINT = "the Synapse RBAC role Synapse Compute Operator (or higher) on the workspace or the pool"

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
        self.url = self._batches_url()
        self._credential = credential
        self._session = session or requests.Session()
        self._timeout = request_timeout
        self._retries = retries
        self._retry_wait = self.RETRY_WAIT if retry_wait is None else retry_wait

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def _batches_url(self) -> str:
        return batches_url(self.endpoint, self.pool)

    @staticmethod
    def is_batch_id(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def _token(self) -> AccessTokenLike:
        try:
            return self._credential.get_token(self.SCOPE)
        except Exception as err:  # azure-identity's ClientAuthenticationError and friends
            raise LivyAuthError(
                f"could not get an access token for {self.SCOPE} from {type(self._credential).__name__}: "
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
        accept = "text/plain, */*" if text else "application/json"
        renewed = False

        def attempt() -> tuple[Any, AccessTokenLike]:
            nonlocal renewed
            token = self._token()
            try:
                response = self._send(method, url, params=params, body=body, token=token, accept=accept)
            except requests.RequestException as err:
                raise _Transient(f"{method} {url} failed: {type(err).__name__}") from err
            if response.status_code == 401 and not renewed and getattr(self._credential, "renewable", True):
                # a token can be refused a little before its announced expiry (clock skew, revocation):
                # ask the credential again once before giving up (azure-identity renews what expired)
                renewed = True
                log.warning("%s %s -> HTTP 401; asking the credential for a fresh token", method, url)
                return attempt()
            if response.status_code in _TRANSIENT_STATUS:
                raise _Transient(f"{method} {url} -> HTTP {response.status_code}", response=response, token=token)
            return response, token

        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=self._retry_wait, max=30.0),
            retry=retry_if_exception_type(_Transient),
            before_sleep=lambda state: log.warning("%s; retrying", state.outcome.exception() if state.outcome else ""),
            reraise=True,
        )
        try:
            response, token = retrying(attempt)
        except _Transient as err:
            if err.response is None:  # the request itself failed every time
                raise LivyError(str(err)) from err.__cause__
            response, token = err.response, err.token  # still transient after the last attempt: an HTTP error
        status = response.status_code
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

    def _forbidden(self, body: str, about: str) -> str:
        """Why the service answered 403: its firewall (the client IP) or a missing role, its code quoted."""
        from medallion.azure.forbidden import explain_forbidden

        workspace = (urlsplit(self.endpoint).hostname or "<workspace>").split(".", 1)[0]
        return explain_forbidden(body, service="synapse", resource=workspace, identity=f"the identity ({about})")

    def _auth_error(self, method: str, url: str, status: int, token: AccessTokenLike, response: Any) -> LivyAuthError:
        about = describe_token(token.token)
        source = type(self._credential).__name__
        if status == 403:  # a firewall refusing the agent's IP also answers 403: the service's code tells
            return LivyAuthError(f"{method} {url} -> HTTP 403: {self._forbidden(response.text or '', about)}", status=403)
        expired = bool(token.expires_on) and token.expires_on <= time.time()
        if expired:
            hint = ("the token expired and this credential cannot renew it; in Azure Pipelines map "
                    "SYSTEM_ACCESSTOKEN so AzurePipelinesCredential renews tokens for the whole run"
                    if not getattr(self._credential, "renewable", True) else "the renewed token expired too")
            what = f"the access token expired ({about}): {hint}"
        else:
            what = (f"the access token was refused ({about}, from {source}): expected audience "
                    f"{self.AUDIENCE} and the workspace's tenant; a missing role answers 403, not 401")
        detail = (response.text or "").strip()[:200]
        return LivyAuthError(f"{method} {url} -> HTTP 401: {what}" + (f" [{detail}]" if detail else ""),
                             status=401, expired=expired)

    def create(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Create a batch (never retried: a retry could start the job twice)."""
        batch = self._request("POST", self.url, params={"detailed": "true"}, body=payload, idempotent=False)
        if not isinstance(batch, dict) or not self.is_batch_id(batch.get("id")):
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
    log.warning("cancelled %s batch %s", client.SERVICE, batch_id)
    return True
