"""Microsoft Fabric as a submit target: the Livy batch API of a lakehouse, and OneLake as the artifact store.

The same batch runs on Fabric as on Synapse (:mod:`medallion.azure.payload` builds the body, and
:func:`medallion.azure.polling.run_batch` polls it and cancels it on every way out); what differs is
the address, the token, two Spark settings and where the driver's log is. Fabric's Livy endpoint
belongs to a lakehouse (Microsoft Learn, "Use the Livy API to submit and execute Livy batch jobs",
fabric/data-engineering/get-started-api-livy-batch)::

    POST   https://api.fabric.microsoft.com/v1/workspaces/{workspaceId}/lakehouses/{lakehouseId}
               /livyapi/versions/2023-12-01/batches                       -> 202 + the batch
    GET    .../batches/{batchId}                                          -> the batch (state, appId, log)
    DELETE .../batches/{batchId}                                          -> cancel

The batch id is a GUID (the ``livyId`` of Fabric's monitoring APIs). The body is Livy's (``name``,
``file``, ``pyFiles``, ``archives``, ``args``, ``conf``, sizes); ``conf`` carries
``spark.targetLakehouse`` (the lakehouse id) and, to run on a Fabric Environment item that holds
packages instead of the starter pool, ``spark.fabric.environmentDetails`` = ``{"id": "<environment id>"}``
(a JSON string). The driver's stderr/stdout come from the Spark monitoring API (Microsoft Learn,
fabric/data-engineering/driver-log)::

    GET https://api.fabric.microsoft.com/v1/workspaces/{workspaceId}/lakehouses/{lakehouseId}
        /livySessions/{livyId}/applications/{appId}/logs?type=driver&fileName=stderr&isDownload=true

Tokens are for the Fabric API (``https://api.fabric.microsoft.com/.default``); the identity needs a
workspace role that may run items (Contributor or higher). Artifacts go to the lakehouse's ``Files``
area in OneLake, which speaks the ADLS Gen2 API, so :mod:`medallion.azure.storage` publishes there
unchanged: ``abfss://{workspace}@onelake.dfs.fabric.microsoft.com/{lakehouse}.Lakehouse/Files/...``.

Example:
    >>> batches_url(FABRIC_API, "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222")[-50:]
    '222222222222/livyapi/versions/2023-12-01/batches'
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from medallion.azure.livy import LivyClient
from medallion.errors import ConfigError

__all__ = [
    "FABRIC_API",
    "FABRIC_SCOPE",
    "FABRIC_LIVY_API_VERSION",
    "ENVIRONMENT_CONF",
    "TARGET_LAKEHOUSE_CONF",
    "ONELAKE_HOST",
    "FabricLivyClient",
    "batches_url",
    "fabric_payload",
    "onelake_uri",
    "check_onelake_target",
]

FABRIC_API = "https://api.fabric.microsoft.com"
FABRIC_SCOPE = "https://api.fabric.microsoft.com/.default"
FABRIC_LIVY_API_VERSION = "2023-12-01"
ENVIRONMENT_CONF = "spark.fabric.environmentDetails"
TARGET_LAKEHOUSE_CONF = "spark.targetLakehouse"
ONELAKE_HOST = "onelake.dfs.fabric.microsoft.com"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ITEM = re.compile(r"^[^/\\]+\.Lakehouse$")


def _guid(value: str, key: str) -> str:
    value = (value or "").strip()
    if not _GUID.match(value):
        raise ConfigError(f"{key} {value!r} is not an id like 00000000-0000-0000-0000-000000000000 "
                          "(the GUID in the item's URL in the Fabric portal)", key=key)
    return value.lower()


def batches_url(endpoint: str, workspace_id: str, lakehouse_id: str) -> str:
    """The ``/batches`` collection of a lakehouse's Livy endpoint under ``endpoint`` (the Fabric API)."""
    workspace_id, lakehouse_id = _guid(workspace_id, "workspace-id"), _guid(lakehouse_id, "lakehouse-id")
    return (f"{endpoint.rstrip('/')}/v1/workspaces/{workspace_id}/lakehouses/{lakehouse_id}"
            f"/livyapi/versions/{FABRIC_LIVY_API_VERSION}/batches")


class FabricLivyClient(LivyClient):
    """:class:`LivyClient` for a Fabric lakehouse: its endpoint, the Fabric token, GUID ids, Fabric's driver log.

    Args:
        endpoint: the Fabric API base (``https://api.fabric.microsoft.com``, or a stand-in's URL).
        workspace_id: the workspace's GUID.
        lakehouse_id: the lakehouse's GUID (the batch runs against it; its Files hold the artifacts).
        credential: an azure-core ``TokenCredential``; asked for a ``FABRIC_SCOPE`` token before every request.
        **options: ``session``, ``request_timeout``, ``retries``, ``retry_wait`` as for :class:`LivyClient`.
    """

    SERVICE = "Fabric"
    SCOPE = FABRIC_SCOPE
    AUDIENCE = FABRIC_API
    ROLE_HINT = ("a workspace role that may run items (Contributor, Member or Admin) on the lakehouse's workspace, "
                 "and the tenant setting that lets service principals use Fabric APIs")

    def __init__(self, endpoint: str, workspace_id: str, lakehouse_id: str, credential: Any, **options: Any) -> None:
        self.workspace_id = _guid(workspace_id, "workspace-id")
        self.lakehouse_id = _guid(lakehouse_id, "lakehouse-id")
        super().__init__(endpoint, self.lakehouse_id, credential, **options)

    def _forbidden(self, body: str, about: str) -> str:
        from medallion.azure.forbidden import error_code

        code = error_code(body)[0] or "no error code"
        return f"the identity is signed in but lacks a role ({code}): it needs {self.ROLE_HINT} ({about})"

    def _batches_url(self) -> str:
        return batches_url(self.endpoint, self.workspace_id, self.lakehouse_id)

    @staticmethod
    def is_batch_id(value: Any) -> bool:
        return isinstance(value, str) and bool(_GUID.match(value))

    def driver_log(self, batch_id: int | str, app_id: str, stream: str = "stderr") -> str:
        """The driver's stderr (or stdout) from Fabric's Spark monitoring API (``type=driver``)."""
        if stream not in ("stderr", "stdout"):
            raise ValueError(f"stream must be stderr or stdout, not {stream!r}")
        url = (f"{self.endpoint}/v1/workspaces/{self.workspace_id}/lakehouses/{self.lakehouse_id}"
               f"/livySessions/{quote(str(batch_id), safe='')}/applications/{quote(app_id, safe='')}/logs")
        params = {"type": "driver", "fileName": stream, "isDownload": "true"}
        return self._request("GET", url, params=params, text=True) or ""


def fabric_payload(payload: Mapping[str, Any], *, lakehouse_id: str,
                   environment_id: str | None = None) -> dict[str, Any]:
    """The Livy body of :func:`medallion.azure.payload.build_payload` with Fabric's two settings.

    ``spark.targetLakehouse`` names the lakehouse; ``spark.fabric.environmentDetails`` (only with
    ``environment_id``) runs the batch on that Environment item's Spark pool and libraries instead of
    the workspace's starter pool. The Synapse-only ``artifactId`` never travels.

    Raises:
        ConfigError: an id that is not a GUID.
    """
    body = {k: v for k, v in payload.items() if k != "artifactId"}
    conf = dict(body.get("conf") or {})
    conf[TARGET_LAKEHOUSE_CONF] = _guid(lakehouse_id, "lakehouse-id")
    if environment_id:
        conf[ENVIRONMENT_CONF] = json.dumps({"id": _guid(environment_id, "environment-id")})
    body["conf"] = conf
    return body


def onelake_uri(workspace: str, lakehouse: str, *path: str) -> str:
    """``abfss://{workspace}@onelake.dfs.fabric.microsoft.com/{lakehouse}.Lakehouse/Files/{path}``."""
    item = lakehouse if lakehouse.endswith(".Lakehouse") else f"{lakehouse}.Lakehouse"
    rest = "/".join(p.strip("/") for p in path if p.strip("/"))
    return f"abfss://{workspace}@{ONELAKE_HOST}/{item}/Files" + (f"/{rest}" if rest else "")


def check_onelake_target(target: str) -> None:
    """Refuse a OneLake ``abfss://`` target outside a lakehouse's ``Files`` area (Tables/ is Delta's).

    Other URIs (ADLS Gen2 accounts) pass unchecked.

    Raises:
        ConfigError: a OneLake URI that is not ``.../{name}.Lakehouse/Files/...`` or ``.../{lakehouse id}/Files/...``.
    """
    authority, _, path = target.strip().removeprefix("abfss://").partition("/")
    if not authority.lower().endswith("@" + ONELAKE_HOST):
        return
    parts = [p for p in path.split("/") if p]
    item_ok = bool(parts) and (_ITEM.match(parts[0]) is not None or _GUID.match(parts[0]) is not None)
    if not item_ok or len(parts) < 2 or parts[1] != "Files":
        raise ConfigError(
            f"{target!r}: a OneLake target must lie in a lakehouse's Files area, like "
            f"{onelake_uri('<workspace>', '<lakehouse>', 'medallion')}", key="target")
