"""A local stand-in for a Synapse workspace's Livy batch API, running batches with spark-submit.

It serves the ``SparkBatch`` subset of Microsoft's published spec
(Azure/azure-rest-api-specs ``specification/synapse/data-plane/Microsoft.Synapse/preview/
2019-11-01-preview/sparkJob.json``) under ``/livyApi/versions/2019-11-01-preview/sparkPools/{pool}``:

* ``POST /batches``          create (``SparkBatchJobOptions``: ``name`` and ``file`` required; unknown
  or mistyped fields answer 400, as Livy's strict deserializer does)
* ``GET /batches``           list (``from``, ``size`` <= 20) -> ``SparkBatchJobCollection``
* ``GET /batches/{id}``      one ``SparkBatchJob`` (``livyInfo`` etc. with ``detailed=true``)
* ``DELETE /batches/{id}``   cancel: the driver is killed and the batch ends ``killed`` / ``Cancelled``
* ``GET /batches/{id}/log``  Livy's log endpoint (``from``, ``size``; the tail when ``from`` is absent)
* ``GET /batches/{id}/state`` Livy's state endpoint
* ``GET /sparkhistory/api/v1/sparkpools/{pool}/livyid/{id}/applications/{appId}/driverlog/{stderr|stdout}/``
  the driver's output, as Synapse's Spark history server serves it (``text/plain``)

As on a real workspace, a batch's ``log`` (and ``/log``) holds the launcher's lines only; what the job
prints goes to the driver's stdout/stderr, served by the history endpoint.

Livy states: ``not_started`` -> ``starting`` -> ``running`` -> ``success`` | ``dead`` | ``killed``,
with Synapse's ``result`` (``Uncertain`` until the end, then ``Succeeded`` / ``Failed`` / ``Cancelled``).
Every request needs an ``Authorization: Bearer <JWT>`` header whose ``aud`` is
``https://dev.azuresynapse.net`` and whose ``exp`` has not passed (401 otherwise, with Entra's IDX error
text; the signature is not checked). Tests can inject failures (5xx, 401) into chosen requests with
:meth:`SynapseLivyStandIn.inject`.

Each batch runs as YARN would run it: a fresh working directory, ``archives`` extracted into it under
their ``#alias`` (default: the file name), ``files`` copied into it, then
``spark-submit [--py-files pyFiles] [--conf k=v ...] file args...`` with that directory as the working
directory, and the pool's Python: by default one with pyspark, py4j and delta only (no pydantic, PyYAML
or tenacity; see :func:`pool_python`), so a batch succeeds only when it ships its dependencies. As on
YARN, ``spark.yarn.appMasterEnv.NAME`` settings become the driver's environment, and the agent's
``PYTHONPATH`` never reaches the driver. ``abfss://fs@account.dfs.core.windows.net/p`` URIs resolve to ``{storage_root}/account/fs/p``,
the layout the ADLS stand-in writes. Sizes (driverMemory, numExecutors, ...) are recorded, not applied.

Run it by hand (e.g. for ``Submit-SynapseSparkJob.ps1 -Endpoint http://127.0.0.1:8998``)::

    python -m tests.standins.synapse_livy --port 8998 --storage-root /tmp/adls --pool pool1
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.standins.adls_dfs import local_path
from tests.tiers import SHORT_LIVED_JVM_OPTS

__all__ = ["SynapseLivyStandIn", "DELTA_SUBMIT_ARGS", "LOCAL_SUBMIT_ARGS", "pool_python", "SYNAPSE_AUDIENCE"]

API_VERSION = "2019-11-01-preview"
SYNAPSE_AUDIENCE = "https://dev.azuresynapse.net"
# what a Synapse 3.5 pool without our packages has: Spark's Python side and Delta's, nothing else of ours
POOL_PACKAGES = ("pyspark", "py4j", "delta")
_HISTORY = re.compile(
    r"^/sparkhistory/api/v1/sparkpools/(?P<pool>[^/]+)/livyid/(?P<id>\d+)/applications/(?P<app>[^/]+)"
    r"/driverlog/(?P<stream>stderr|stdout)/?$"
)

LOCAL_SUBMIT_ARGS: tuple[str, ...] = (
    "--master", "local[2]",
    "--conf", "spark.ui.enabled=false",
    "--conf", "spark.ui.showConsoleProgress=false",
    "--conf", "spark.sql.shuffle.partitions=4",
    "--conf", "spark.default.parallelism=2",
    "--conf", "spark.sql.session.timeZone=UTC",
    "--conf", "spark.driver.memory=2g",
)
# Synapse provides Delta itself; a local spark-submit needs the package and the session extension.
DELTA_SUBMIT_ARGS: tuple[str, ...] = (
    "--packages", "io.delta:delta-spark_2.12:3.2.1",
    "--conf", "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
    "--conf", "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "--conf", "spark.databricks.delta.snapshotPartitions=2",
)

RUNNERS = ("spark-submit", "python")
_STRING_LISTS = ("args", "jars", "pyFiles", "files", "archives")
_STRINGS = ("name", "file", "className", "artifactId", "driverMemory", "executorMemory")
_INTS = ("driverCores", "executorCores", "numExecutors")
_MAPS = ("conf", "tags")
_KNOWN = set(_STRING_LISTS) | set(_STRINGS) | set(_INTS) | set(_MAPS)
_TERMINAL = {"success", "dead", "killed", "error"}
_STATE_STAMP = {
    "not_started": "notStartedAt", "starting": "startingAt", "running": "runningAt",
    "success": "successAt", "dead": "deadAt", "killed": "killedAt", "recovering": "recoveringAt",
}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _BadRequest(Exception):
    pass


def pool_python(cache_dir: Path) -> str:
    """A Python like a Synapse pool's without our dependencies: a venv without system site-packages that
    sees only ``pyspark``, ``py4j`` and ``delta`` (linked from this interpreter's site-packages).

    Made once per ``cache_dir``; returns the interpreter's path.
    """
    import importlib.util
    import venv

    cache_dir = Path(cache_dir)
    python = cache_dir / "pool-venv" / "bin" / "python"
    if python.exists():
        return str(python)
    site = cache_dir / "pool-site"
    site.mkdir(parents=True, exist_ok=True)
    for package in POOL_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"{package} is not installed here; the pool Python needs it")
        source = Path(next(iter(spec.submodule_search_locations)))
        link = site / package
        if not link.exists():
            link.symlink_to(source, target_is_directory=True)
    venv.EnvBuilder(system_site_packages=False, with_pip=False, symlinks=True).create(cache_dir / "pool-venv")
    (site_packages,) = (cache_dir / "pool-venv" / "lib").glob("python3*/site-packages")
    (site_packages / "synapse_pool.pth").write_text(f"{site}\n")
    return str(python)


def _jwt_claims(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def _token_problem(auth: str, audience: str) -> str | None:
    """Why Entra-issued-token validation would refuse this header, or None."""
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        return "A bearer token is required."
    claims = _jwt_claims(auth[7:].strip())
    if claims is None:
        return "IDX14100: JWT is not well formed."
    if claims.get("aud") not in (audience, audience + "/"):
        return f"IDX10214: Audience validation failed. Audience: '{claims.get('aud')}'. Did not match: '{audience}'."
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= dt.datetime.now(dt.UTC).timestamp():
        return f"IDX10223: Lifetime validation failed. The token is expired. ValidTo: '{exp}'."
    return None


@dataclass
class _Fault:
    status: int
    remaining: int
    method: str | None
    path: str | None
    body: dict[str, Any] | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or self.path in path)


@dataclass
class _Batch:
    id: int
    pool: str
    request: dict[str, Any]
    state: str = "not_started"
    result: str = "Uncertain"
    app_id: str | None = None
    log: list[str] = field(default_factory=list)
    stamps: dict[str, str] = field(default_factory=dict)
    submitted_at: str = field(default_factory=_now)
    ended_at: str | None = None
    cancel_requested_at: str | None = None
    process: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    exit_code: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_state(self, state: str) -> None:
        self.state = state
        stamp = _STATE_STAMP.get(state)
        if stamp and stamp not in self.stamps:
            self.stamps[stamp] = _now()
        if state in _TERMINAL:
            self.ended_at = self.ended_at or _now()
            self.result = {"success": "Succeeded", "killed": "Cancelled"}.get(state, "Failed")

    def as_json(self, workspace: str, detailed: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "livyInfo": None,
            "name": self.request.get("name"),
            "workspaceName": workspace,
            "sparkPoolName": self.pool,
            "submitterName": "standin@localhost",
            "submitterId": "00000000-0000-0000-0000-000000000000",
            "artifactId": self.request.get("artifactId"),
            "jobType": "SparkBatch",
            "result": self.result,
            "schedulerInfo": None,
            "pluginInfo": None,
            "errorInfo": [],
            "tags": self.request.get("tags"),
            "id": self.id,
            "appId": self.app_id,
            "appInfo": {"driverLogUrl": "", "sparkUiUrl": ""} if self.app_id else None,
            "state": self.state,
            "log": self.log[-100:],
        }
        if detailed:
            body["livyInfo"] = {**self.stamps, "currentState": self.state, "jobCreationRequest": self.request}
            body["schedulerInfo"] = {
                "submittedAt": self.submitted_at,
                "scheduledAt": self.stamps.get("startingAt"),
                "endedAt": self.ended_at,
                "cancellationRequestedAt": self.cancel_requested_at,
                "currentState": "Ended" if self.ended_at else ("Scheduled" if self.state != "not_started" else "Queued"),
            }
            body["pluginInfo"] = {
                "preparationStartedAt": self.submitted_at,
                "submissionStartedAt": self.stamps.get("startingAt"),
                "monitoringStartedAt": self.stamps.get("runningAt"),
                "cleanupStartedAt": self.ended_at,
                "currentState": "Ended" if self.ended_at else ("Monitoring" if self.state == "running" else "Preparation"),
            }
            if self.state in ("dead", "error"):
                body["errorInfo"] = [{"message": (self.log or ["failed"])[-1], "errorCode": "SPARK_JOB_FAILED",
                                      "source": "User"}]
        return body


def _driver_output(batch: _Batch, stream: str) -> str | None:
    if batch.workdir is None or batch.app_id is None:
        return None
    path = batch.workdir / f"driver.{stream}"
    return path.read_text("utf-8", "replace") if path.exists() else ""


class SynapseLivyStandIn:
    """The server. Use as a context manager; ``url`` is the workspace endpoint to give clients.

    Args:
        storage_root: where ``abfss://`` URIs resolve (the ADLS stand-in's root).
        pools: Spark pool names that exist; others answer 404.
        workspace: reported as ``workspaceName``.
        spark_submit: the ``spark-submit`` executable.
        submit_args: arguments put before the batch's own (master, Delta packages, ...).
        work_root: where batch working directories are made (a temp dir by default).
        env: extra environment variables for the driver.
        serve_log_endpoint: serve Livy's ``/batches/{id}/log`` (not in the Synapse spec); when false it
            answers 404 and clients must read the ``log`` lines of the batch itself.
        python: the pool's Python for the driver and the executors (default: :func:`pool_python`, made
            under ``work_root``: pyspark and delta only).
        audience: the token audience accepted.
        runner: ``"spark-submit"`` (default) runs each batch as above; ``"python"`` runs the batch's
            ``file`` with the pool's Python instead (``pyFiles`` on ``PYTHONPATH``, the same working
            directory, archives, files and driver environment, the Python's stderr merged into the driver's
            stdout as Spark's PythonRunner does, no JVM): the protocol (tokens, states,
            cancel, logs) is the same, in a fraction of a second per batch, for jobs that do not start Spark.
    """

    def __init__(
        self,
        storage_root: Path,
        *,
        pools: tuple[str, ...] = ("pool1",),
        workspace: str = "standin",
        spark_submit: str = "spark-submit",
        submit_args: tuple[str, ...] = LOCAL_SUBMIT_ARGS + DELTA_SUBMIT_ARGS,
        work_root: Path | None = None,
        env: dict[str, str] | None = None,
        serve_log_endpoint: bool = True,
        python: str | None = None,
        audience: str = SYNAPSE_AUDIENCE,
        runner: str = "spark-submit",
    ) -> None:
        if runner not in RUNNERS:
            raise ValueError(f"runner must be one of {RUNNERS}, not {runner!r}")
        self.runner = runner
        self.storage_root = Path(storage_root)
        self.pools = set(pools)
        self.workspace = workspace
        self.spark_submit = spark_submit
        self.submit_args = tuple(submit_args)
        self.work_root = Path(work_root or tempfile.mkdtemp(prefix="livy-standin-"))
        self.env = dict(env or {})
        self.serve_log_endpoint = serve_log_endpoint
        self.python = python or pool_python(self.work_root / "_pool")
        self.audience = audience
        self.faults: list[_Fault] = []
        self.refused: list[tuple[str, str, str]] = []
        self.batches: dict[int, _Batch] = {}
        self.requests: list[tuple[str, str]] = []
        self._next_id = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, port: int = 0) -> SynapseLivyStandIn:
        stand_in = self

        class Handler(self._handler_base()):  # type: ignore[misc]
            server_ref = stand_in

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="livy-standin", daemon=True)
        self._thread.start()
        return self

    def _handler_base(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def _driver_env(self, batch: _Batch, env: dict[str, str]) -> None:
        """Change the driver's environment of one batch (a hook for other services' stand-ins)."""

    def stop(self) -> None:
        for batch in list(self.batches.values()):
            self._kill(batch)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SynapseLivyStandIn:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def wait(self, batch_id: int, timeout: float = 300.0) -> str:
        """Block until a batch is terminal (for tests); returns its state."""
        batch = self.batches[batch_id]
        deadline = dt.datetime.now().timestamp() + timeout
        while batch.state not in _TERMINAL and dt.datetime.now().timestamp() < deadline:
            threading.Event().wait(0.1)
        return batch.state

    def inject(self, status: int, count: int = 1, *, method: str | None = None, path: str | None = None,
               body: dict[str, Any] | None = None) -> None:
        """Answer the next ``count`` matching requests (method, a substring of the path) with ``status``
        (and ``body``, e.g. the workspace firewall's ``{"code": "ClientIpAddressNotAuthorized", ...}``)."""
        self.faults.append(_Fault(status, count, method, path, body))

    def _fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
        return None

    def wait_for_state(self, batch_id: int, state: str, timeout: float = 120.0) -> bool:
        """Block until a batch reaches ``state`` (or ends); True when it did."""
        batch = self.batches[batch_id]
        deadline = dt.datetime.now().timestamp() + timeout
        while batch.state != state and batch.state not in _TERMINAL and dt.datetime.now().timestamp() < deadline:
            threading.Event().wait(0.1)
        return batch.state == state

    # -- API ---------------------------------------------------------------------------------
    def create(self, pool: str, body: Any) -> _Batch:
        request = _validate(body)
        with self._lock:
            batch = _Batch(self._next_id, pool, request)
            self._next_id += 1
            self.batches[batch.id] = batch
        batch.set_state("not_started")
        threading.Thread(target=self._run, args=(batch,), name=f"batch-{batch.id}", daemon=True).start()
        return batch

    def cancel(self, batch: _Batch) -> None:
        with batch.lock:
            batch.cancel_requested_at = batch.cancel_requested_at or _now()
            if batch.state in _TERMINAL:
                return
            if batch.process is None:
                batch.set_state("killed")
                return
        self._kill(batch)

    def _kill(self, batch: _Batch) -> None:
        process = batch.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # -- running a batch ---------------------------------------------------------------------
    def _run(self, batch: _Batch) -> None:
        request = batch.request
        try:
            with batch.lock:
                if batch.cancel_requested_at:
                    return
                batch.set_state("starting")
            workdir = self.work_root / f"batch-{batch.id}"
            workdir.mkdir(parents=True)
            batch.workdir = workdir
            for spec in request.get("archives", []):
                uri, _, alias = spec.partition("#")
                source = self._resolve(uri)
                with zipfile.ZipFile(source) as archive:
                    archive.extractall(workdir / (alias or source.name))
            for uri in request.get("files", []):
                shutil.copy(self._resolve(uri), workdir / self._resolve(uri).name)
            py_files = [str(self._resolve(u)) for u in request.get("pyFiles", [])]
            command = self._command(request, py_files)
        except (OSError, zipfile.BadZipFile, KeyError) as err:
            batch.log.append(f"stand-in: could not prepare the batch: {type(err).__name__}: {err}")
            batch.set_state("dead")
            return
        self._launch(batch, workdir, command, py_files)

    def _command(self, request: dict[str, Any], py_files: list[str]) -> list[str]:
        """The driver's command line: spark-submit's, or the pool Python on the file (``runner="python"``)."""
        if self.runner == "python":
            return [self.python, str(self._resolve(request["file"])), *request.get("args", [])]
        command = [self.spark_submit, *self.submit_args, "--name", str(request["name"])]
        if py_files:
            command += ["--py-files", ",".join(py_files)]
        jars = [str(self._resolve(u)) for u in request.get("jars", [])]
        if jars:
            command += ["--jars", ",".join(jars)]
        for key, value in (request.get("conf") or {}).items():
            command += ["--conf", f"{key}={value}"]
        if request.get("className"):
            command += ["--class", request["className"]]
        command.append(str(self._resolve(request["file"])))
        command += list(request.get("args", []))
        return command

    def _launch(self, batch: _Batch, workdir: Path, command: list[str], py_files: list[str]) -> None:
        request = batch.request
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYSPARK_", "PYTEST_", "VIRTUAL_ENV")) and k not in ("PYTHONPATH", "PYTHONHOME")}
        env["PYSPARK_PYTHON"] = self.python
        env["PYSPARK_DRIVER_PYTHON"] = self.python
        env.setdefault("SPARK_SUBMIT_OPTS", SHORT_LIVED_JVM_OPTS)  # a local batch's JVM is short-lived: C1 only
        env.update(self.env)
        prefix = "spark.yarn.appMasterEnv."
        for key, value in (request.get("conf") or {}).items():
            if key.startswith(prefix):  # YARN puts these in the driver's (application master's) environment
                env[key[len(prefix):]] = value
        if self.runner == "python":  # what spark-submit's PythonRunner does: pyFiles first on the driver's path
            env["PYTHONPATH"] = os.pathsep.join([*py_files, *filter(None, [env.get("PYTHONPATH")])])
        self._driver_env(batch, env)
        with batch.lock:
            if batch.cancel_requested_at:
                batch.set_state("killed")
                return
            batch.app_id = f"application_{int(dt.datetime.now().timestamp())}_{batch.id:04d}"
            stdout = (workdir / "driver.stdout").open("wb")
            stderr = (workdir / "driver.stderr").open("wb")
            if self.runner == "python":  # as Spark's PythonRunner does: the Python's stderr joins driver stdout
                stderr.close()
                stderr = stdout
            batch.process = subprocess.Popen(
                command, cwd=workdir, env=env, stdout=stdout, stderr=stderr, start_new_session=True,
            )
            batch.log.extend(["stdout: ", f"Submitting application {batch.app_id} to ResourceManager",
                              f"Application report for {batch.app_id} (state: RUNNING)"])
            batch.set_state("running")
        code = batch.process.wait()
        stdout.close()
        stderr.close()
        with batch.lock:
            batch.exit_code = code
            final = "SUCCEEDED" if code == 0 and not batch.cancel_requested_at else (
                "KILLED" if batch.cancel_requested_at else "FAILED")
            batch.log.extend([f"Application report for {batch.app_id} (state: FINISHED, final status: {final})",
                              "", "stderr: ", "", "YARN Diagnostics: "])
            if batch.cancel_requested_at:
                batch.log.append("Application killed by user.")
                batch.set_state("killed")
            else:
                if code != 0:
                    batch.log.append(f"User application exited with status {code}")
                batch.set_state("success" if code == 0 else "dead")

    def _resolve(self, uri: str) -> Path:
        path = local_path(self.storage_root, uri)
        if not path.exists():
            raise FileNotFoundError(f"{uri} does not exist")
        return path


def _validate(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _BadRequest("the body must be a JSON object (SparkBatchJobOptions)")
    unknown = sorted(set(body) - _KNOWN)
    if unknown:
        raise _BadRequest(f"Unrecognized field(s) {unknown} in SparkBatchJobOptions")
    for key in ("name", "file"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise _BadRequest(f"'{key}' is required")
    clean = {k: v for k, v in body.items() if v is not None}
    for key in _STRING_LISTS:
        if key in clean and not (isinstance(clean[key], list) and all(isinstance(i, str) for i in clean[key])):
            raise _BadRequest(f"'{key}' must be an array of strings")
    for key in _STRINGS:
        if key in clean and not isinstance(clean[key], str):
            raise _BadRequest(f"'{key}' must be a string")
    for key in _INTS:
        if key in clean and (not isinstance(clean[key], int) or isinstance(clean[key], bool)):
            raise _BadRequest(f"'{key}' must be an int32")
    for key in _MAPS:
        if key in clean and not (isinstance(clean[key], dict) and all(isinstance(v, str) for v in clean[key].values())):
            raise _BadRequest(f"'{key}' must be an object of strings")
    return clean


class _Handler(BaseHTTPRequestHandler):
    server_ref: SynapseLivyStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        pass

    def _send(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, status: int, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _receive(self, method: str) -> tuple[Any, dict[str, str], bytes, _Fault | None]:
        """The request as every route needs it: the split URL (recorded), the query, the body, an injected fault."""
        parts = urlsplit(self.path)
        self.server_ref.requests.append((method, parts.path))
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return parts, query, raw, self.server_ref._fault(method, parts.path)

    def _dispatch(self, method: str) -> None:
        stand_in = self.server_ref
        parts, query, raw, fault = self._receive(method)
        if fault is not None:
            code = {401: "Unauthorized", 429: "TooManyRequests"}.get(fault.status, "ServiceUnavailable")
            self._send(fault.status, fault.body or {"code": code, "message": f"injected by the stand-in ({fault.status})"})
            return
        problem = _token_problem(self.headers.get("Authorization", ""), stand_in.audience)
        if problem is not None:
            stand_in.refused.append((method, parts.path, problem))
            self._send(401, {"code": "Unauthorized", "message": f"Token Authentication failed - {problem}"})
            return
        history = _HISTORY.match(parts.path)
        if history is not None and method == "GET":
            batch = stand_in.batches.get(int(history["id"]))
            text = None if batch is None or batch.pool != history["pool"] or batch.app_id != history["app"] \
                else _driver_output(batch, history["stream"])
            if text is None:
                self._send(404, {"code": "NotFound", "message": f"{parts.path} not found"})
            else:
                self._send_text(200, text)
            return
        segments = [s for s in parts.path.split("/") if s]
        prefix = ["livyApi", "versions", API_VERSION, "sparkPools"]
        if segments[:4] != prefix or len(segments) < 6 or segments[5] != "batches":
            self._send(404, {"code": "NotFound", "message": f"{parts.path} is not served"})
            return
        pool = segments[4]
        if pool not in stand_in.pools:
            self._send(404, {"code": "SparkPoolNotFound", "message": f"Spark pool {pool} not found"})
            return
        rest = segments[6:]
        detailed = query.get("detailed", "false").lower() == "true"
        try:
            if not rest and method == "POST":
                try:
                    body = json.loads(raw or b"null")
                except ValueError as err:
                    raise _BadRequest(f"malformed JSON: {err}") from err
                batch = stand_in.create(pool, body)
                self._send(200, batch.as_json(stand_in.workspace, detailed))
                return
            if not rest and method == "GET":
                start = int(query.get("from", 0))
                size = min(int(query.get("size", 20)), 20)
                mine = [b for b in sorted(stand_in.batches.values(), key=lambda b: b.id) if b.pool == pool]
                self._send(200, {"from": start, "total": len(mine),
                                 "sessions": [b.as_json(stand_in.workspace, detailed) for b in mine[start:start + size]]})
                return
            batch = stand_in.batches.get(int(rest[0])) if rest and rest[0].isdigit() else None
            if batch is None or batch.pool != pool:
                self._send(404, {"code": "NotFound", "message": f"Session '{rest[0] if rest else ''}' not found."})
                return
            if len(rest) == 1 and method == "GET":
                self._send(200, batch.as_json(stand_in.workspace, detailed))
            elif len(rest) == 1 and method == "DELETE":
                stand_in.cancel(batch)
                self._send(200, {"msg": "deleted"})
            elif rest[1:] == ["log"] and method == "GET" and stand_in.serve_log_endpoint:
                size = int(query.get("size", 100))
                total = len(batch.log)
                start = int(query["from"]) if "from" in query else max(0, total - size)
                self._send(200, {"id": batch.id, "from": start, "total": total,
                                 "log": batch.log[start:start + size]})
            elif rest[1:] == ["state"] and method == "GET":
                self._send(200, {"id": batch.id, "state": batch.state})
            elif rest[1:] == ["log"]:
                self._send(404, {"code": "NotFound", "message": f"{parts.path} is not served"})
            else:
                self._send(405, {"code": "MethodNotAllowed", "message": f"{method} {parts.path}"})
        except _BadRequest as err:
            self._send(400, {"code": "BadRequest", "message": str(err)})
        except ValueError as err:
            self._send(400, {"code": "BadRequest", "message": str(err)})

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8998)
    parser.add_argument("--storage-root", type=Path, required=True)
    parser.add_argument("--pool", action="append", default=[])
    parser.add_argument("--no-delta", action="store_true", help="do not add the Delta package and extension")
    parser.add_argument("--runner", choices=RUNNERS, default="spark-submit",
                        help="python: run each batch's file with the pool Python, no JVM (protocol checks)")
    args = parser.parse_args(argv)
    submit_args = LOCAL_SUBMIT_ARGS if args.no_delta else LOCAL_SUBMIT_ARGS + DELTA_SUBMIT_ARGS
    stand_in = SynapseLivyStandIn(args.storage_root, pools=tuple(args.pool or ["pool1"]), submit_args=submit_args,
                                  runner=args.runner)
    sys.stderr.write("tokens must be JWTs for https://dev.azuresynapse.net that have not expired\n")
    stand_in.start(args.port)
    sys.stderr.write(f"Synapse Livy stand-in on {stand_in.url} (pools: {sorted(stand_in.pools)})\n")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stand_in.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
