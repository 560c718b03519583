"""A local stand-in for a Fabric lakehouse's Livy batch API and the Spark monitoring API's driver log.

Built from Microsoft's published pages (Microsoft Learn, fabric/data-engineering/get-started-api-livy-batch,
api-livy-overview and driver-log), it serves, under ``/v1/workspaces/{workspaceId}/lakehouses/{lakehouseId}``:

* ``POST livyapi/versions/2023-12-01/batches``       create: 202 Accepted with the batch
* ``GET  livyapi/versions/2023-12-01/batches/{id}``  one batch (Livy's object: id, name, state, appId, appInfo, log)
* ``GET  livyapi/versions/2023-12-01/batches``       list (``from``, ``size``)
* ``DELETE livyapi/versions/2023-12-01/batches/{id}`` cancel: the driver is killed, the batch ends ``killed``
* ``GET  livySessions/{id}/applications/{appId}/logs?type=driver&fileName=stderr|stdout[&isDownload=true]``
  the driver's output as text (404 before the application exists)

Strict where the service is: only ``2023-12-01`` (the ``livyapi`` segment in any case, as Microsoft's pages
spell it both ways); workspace and lakehouse ids must be GUIDs that exist (404 ``ItemNotFound``); batch ids are
GUIDs; the body takes Livy's batch fields only (``name`` and ``file`` required, ``artifactId`` and unknown
fields answer 400); ``conf["spark.targetLakehouse"]``, when set, must be this lakehouse;
``conf["spark.fabric.environmentDetails"]`` must be a JSON string ``{"id": "<GUID>"}`` naming an Environment
item of the workspace (400 otherwise). Every request needs ``Authorization: Bearer <JWT>`` with the Fabric
API's audience (``https://api.fabric.microsoft.com``, or the Power BI resource that Fabric also accepts) and
an ``exp`` to come (401 otherwise); an identity (``oid``) outside ``members`` gets 403 ``InsufficientPrivileges``.
Livy's own ``/batches/{id}/log`` is not served (404): launcher lines come in the batch's ``log``.

Batches run as on the Synapse stand-in (its runner is reused: archives extracted under their alias, the pool
Python without our packages, ``spark.yarn.appMasterEnv.*`` in the driver's environment), with ``runner="python"``
through the Synapse stand-in's ``runner="python"`` (no JVM) for jobs that do not need Spark. An Environment item's
packages (``environments={id: folder}``) are on the driver's ``PYTHONPATH`` when a batch names it.
``abfss://{workspace}@onelake.dfs.fabric.microsoft.com/{lakehouse}.Lakehouse/Files/...`` resolves to
``{storage_root}/onelake/{workspace}/{lakehouse}.Lakehouse/Files/...`` (the ADLS stand-in's layout).
"""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from tests.standins.synapse_livy import (
    DELTA_SUBMIT_ARGS,
    LOCAL_SUBMIT_ARGS,
    SynapseLivyStandIn,
    _BadRequest,
    _Batch,
    _Handler,
    _jwt_claims,
    _token_problem,
)

__all__ = ["FabricLivyStandIn", "FABRIC_AUDIENCE", "POWERBI_AUDIENCE", "API_VERSION"]

API_VERSION = "2023-12-01"
FABRIC_AUDIENCE = "https://api.fabric.microsoft.com"
POWERBI_AUDIENCE = "https://analysis.windows.net/powerbi/api"
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_LIVY_FIELDS = {"name", "file", "className", "args", "jars", "pyFiles", "files", "archives", "driverMemory",
                "driverCores", "executorMemory", "executorCores", "numExecutors", "queue", "proxyUser", "conf",
                "tags"}
_ITEM = re.compile(r"^/v1/workspaces/(?P<ws>[^/]+)/lakehouses/(?P<lh>[^/]+)/(?P<rest>.*)$")
_LOGS = re.compile(r"^livySessions/(?P<id>[^/]+)/applications/(?P<app>[^/]+)/logs/?$")


class FabricLivyStandIn(SynapseLivyStandIn):
    """The server; ``url`` is the Fabric API base to give clients (``--endpoint``).

    Args:
        storage_root: where ``abfss://`` URIs resolve (the ADLS stand-in's root).
        workspaces: workspace id -> its lakehouse ids.
        environments: Environment item id -> a folder of Python packages it provides.
        members: identity object ids with a workspace role (None: every identity).
        runner: ``spark`` (spark-submit with ``submit_args``) or ``python`` (no JVM).
        **options: as for :class:`SynapseLivyStandIn` (``work_root``, ``python``, ``env``, ...).
    """

    def __init__(self, storage_root: Path, *, workspaces: dict[str, set[str]],
                 environments: dict[str, Path] | None = None, members: set[str] | None = None,
                 runner: str = "spark", submit_args: tuple[str, ...] = LOCAL_SUBMIT_ARGS + DELTA_SUBMIT_ARGS, **options: Any) -> None:
        if runner not in ("spark", "python"):
            raise ValueError(f"runner must be spark or python, not {runner!r}")
        super().__init__(storage_root, pools=(), submit_args=submit_args, audience=FABRIC_AUDIENCE,
                         serve_log_endpoint=False, runner="spark-submit" if runner == "spark" else runner, **options)
        self.workspaces = {ws.lower(): {lh.lower() for lh in lakehouses} for ws, lakehouses in workspaces.items()}
        self.environments = {k.lower(): Path(v) for k, v in (environments or {}).items()}
        self.members = members
        self.livy_ids: dict[str, int] = {}
        self.statuses: list[tuple[str, str, int]] = []

    def _handler_base(self) -> type[_Handler]:
        return _FabricHandler

    def batch(self, livy_id: str) -> _Batch:
        """The batch behind a Livy id (for tests)."""
        return self.batches[self.livy_ids[livy_id]]

    def livy_id(self, batch: _Batch) -> str:
        return next(k for k, v in self.livy_ids.items() if v == batch.id)

    def create_fabric(self, workspace: str, lakehouse: str, body: Any) -> _Batch:
        if not isinstance(body, dict):
            raise _BadRequest("the body must be a JSON object (a Livy batch request)")
        unknown = sorted(set(body) - _LIVY_FIELDS)
        if unknown:
            raise _BadRequest(f"Unrecognized field(s) {unknown} in the batch request")
        conf = body.get("conf") or {}
        if not isinstance(conf, dict):
            raise _BadRequest("'conf' must be an object of strings")
        target = conf.get("spark.targetLakehouse")
        if target is not None and str(target).lower() != lakehouse:
            raise _BadRequest(f"spark.targetLakehouse {target!r} is not the lakehouse {lakehouse} of this endpoint")
        if "spark.fabric.environmentDetails" in conf:
            self._environment(workspace, conf["spark.fabric.environmentDetails"])
        batch = self.create(lakehouse, body)
        with self._lock:
            self.livy_ids[str(uuid.uuid4())] = batch.id
        return batch

    def _environment(self, workspace: str, details: Any) -> Path:
        try:
            parsed = json.loads(details) if isinstance(details, str) else None
        except ValueError:
            parsed = None
        env_id = str(parsed.get("id", "")).lower() if isinstance(parsed, dict) else ""
        if not _GUID.match(env_id):
            raise _BadRequest('spark.fabric.environmentDetails must be a JSON string like {"id": "<environment id>"}')
        if env_id not in self.environments:
            raise _BadRequest(f"Environment {env_id} was not found in workspace {workspace}")
        return self.environments[env_id]

    def _driver_env(self, batch: _Batch, env: dict[str, str]) -> None:
        details = (batch.request.get("conf") or {}).get("spark.fabric.environmentDetails")
        if details is not None:
            folder = self.environments[json.loads(details)["id"].lower()]
            env["PYTHONPATH"] = ":".join(p for p in (env.get("PYTHONPATH"), str(folder)) if p)

    def as_fabric_json(self, batch: _Batch) -> dict[str, Any]:
        return {"id": self.livy_id(batch), "name": batch.request.get("name"), "state": batch.state,
                "appId": batch.app_id, "appInfo": {"driverLogUrl": None, "sparkUiUrl": None} if batch.app_id else None,
                "log": batch.log[-100:]}


class _FabricHandler(_Handler):
    server_ref: FabricLivyStandIn

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"requestId": str(uuid.uuid4()), "errorCode": code, "message": message})

    def _dispatch(self, method: str) -> None:  # noqa: C901 - one route table
        stand_in = self.server_ref
        parts, query, raw, fault = self._receive(method)
        if fault is not None:
            if fault.body is not None:
                self._send(fault.status, fault.body)
            else:
                self._error(fault.status, {401: "TokenExpired", 429: "RequestBlocked"}.get(fault.status, "ServiceUnavailable"),
                            f"injected by the stand-in ({fault.status})")
            return
        auth = self.headers.get("Authorization", "")
        problems = [_token_problem(auth, audience) for audience in (FABRIC_AUDIENCE, POWERBI_AUDIENCE)]
        if all(problems):
            stand_in.refused.append((method, parts.path, str(problems[0])))
            self._error(401, "InvalidToken", f"Access token validation failed - {problems[0]}")
            return
        oid = (_jwt_claims(auth[7:].strip()) or {}).get("oid")
        item = _ITEM.match(parts.path)
        if item is None:
            self._error(404, "EntityNotFound", f"{parts.path} is not served")
            return
        workspace, lakehouse, rest = item["ws"].lower(), item["lh"].lower(), item["rest"]
        if workspace not in stand_in.workspaces or lakehouse not in stand_in.workspaces[workspace]:
            self._error(404, "ItemNotFound", f"lakehouse {item['lh']} was not found in workspace {item['ws']}")
            return
        if stand_in.members is not None and oid not in stand_in.members:
            self._error(403, "InsufficientPrivileges",
                        f"the caller {oid} has no role on workspace {workspace} that may run this item")
            return
        logs = _LOGS.match(rest)
        if logs is not None and method == "GET":
            self._driver_log(logs, query)
            return
        segments = [s for s in rest.split("/") if s]
        if len(segments) < 4 or segments[0].lower() != "livyapi" or segments[1] != "versions" \
                or segments[3] != "batches":
            self._error(404, "EntityNotFound", f"{parts.path} is not served")
            return
        if segments[2] != API_VERSION:
            self._error(404, "UnsupportedApiVersion", f"Livy API version {segments[2]} is not supported")
            return
        tail = segments[4:]
        try:
            if not tail and method == "POST":
                try:
                    body = json.loads(raw or b"null")
                except ValueError as err:
                    raise _BadRequest(f"malformed JSON: {err}") from err
                batch = stand_in.create_fabric(workspace, lakehouse, body)
                self._send(202, stand_in.as_fabric_json(batch))
                return
            if not tail and method == "GET":
                start, size = int(query.get("from", 0)), int(query.get("size", 20))
                mine = [b for b in sorted(stand_in.batches.values(), key=lambda b: b.id) if b.pool == lakehouse]
                self._send(200, {"from": start, "total": len(mine),
                                 "sessions": [stand_in.as_fabric_json(b) for b in mine[start:start + size]]})
                return
            number = stand_in.livy_ids.get(tail[0].lower())
            batch = stand_in.batches.get(number) if number is not None else None
            if batch is None or batch.pool != lakehouse:
                self._error(404, "LivySessionNotFound", f"Livy batch {tail[0]} was not found")
                return
            if len(tail) == 1 and method == "GET":
                self._send(200, stand_in.as_fabric_json(batch))
            elif len(tail) == 1 and method == "DELETE":
                stand_in.cancel(batch)
                self._send(200, {"msg": "deleted"})
            elif tail[1:] == ["log"]:
                self._error(404, "EntityNotFound", f"{parts.path} is not served")
            else:
                self._error(405, "MethodNotAllowed", f"{method} {parts.path}")
        except (_BadRequest, ValueError) as err:
            self._error(400, "InvalidRequest", str(err))

    def _driver_log(self, match: re.Match[str], query: dict[str, str]) -> None:
        stand_in = self.server_ref
        if query.get("type") != "driver" or query.get("fileName") not in ("stderr", "stdout"):
            self._error(400, "InvalidParameter", "this stand-in serves type=driver with fileName stderr or stdout")
            return
        number = stand_in.livy_ids.get(match["id"].lower())
        batch = stand_in.batches.get(number) if number is not None else None
        if batch is None or batch.app_id != match["app"] or batch.workdir is None:
            self._error(404, "SparkApplicationNotFound", f"application {match['app']} of Livy id {match['id']}")
            return
        path = batch.workdir / f"driver.{query['fileName']}"
        self._send_text(200, path.read_text("utf-8", "replace") if path.exists() else "")
