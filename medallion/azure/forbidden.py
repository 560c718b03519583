"""Say why Azure answered 403: a firewall refusing the client's IP, or an identity without a role.

Both answer HTTP 403, and the fix differs: an allow rule for the caller's address, or a role for the
identity. The service's own error code tells them apart, and is quoted in the message with its body:

* Synapse workspace firewall: ``ClientIpAddressNotAuthorized`` ("Client Ip address : 203.0.113.7");
* storage firewall / network rules: ``AuthorizationFailure`` ("This request is not authorized to perform
  this operation.");
* storage role missing: ``AuthorizationPermissionMismatch`` ("... using this permission.");
* Synapse RBAC role missing: any other 403 from the workspace (the body names the required action).

Example:
    >>> explain_forbidden('{"code": "ClientIpAddressNotAuthorized", "message": "Client Ip address : 203.0.113.7"}',
    ...                   service="synapse", resource="syn-medallion-dev")  # doctest: +ELLIPSIS
    'the workspace firewall refused the client IP 203.0.113.7 (ClientIpAddressNotAuthorized): ...'
"""
from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["azure_error_text", "error_code", "explain_forbidden"]

_IP = re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F:]{3,}:[0-9a-fA-F]{1,4})\b")
_BODY_LIMIT = 500


def error_code(body: str, header_code: str | None = None) -> tuple[str, str]:
    """The service's error code and message from a JSON error body (``{"error": {...}}``, flat ``code``, or
    Fabric's flat ``errorCode``) or an XML one (storage)."""
    code, message = header_code or "", ""
    try:
        parsed: Any = json.loads(body) if body and body.strip().startswith("{") else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        inner = parsed.get("error") if isinstance(parsed.get("error"), dict) else parsed
        code = str(inner.get("code") or inner.get("errorCode") or code)
        message = str(inner.get("message") or "")
    else:
        found = re.search(r"<Code>([^<]+)</Code>", body or "")
        code = found.group(1) if found else code
        text = re.search(r"<Message>([^<]+)</Message>", body or "")
        message = text.group(1) if text else ""
    return code, message


def explain_forbidden(body: str, *, service: str, resource: str = "<name>", header_code: str | None = None,
                      identity: str = "the identity") -> str:
    """One sentence: who refused, the service's code, the rule or role to add; the body (cut) follows.

    Args:
        body: the response body as received.
        service: ``synapse`` (workspace / Livy / history) or ``storage`` (ADLS Gen2).
        resource: the workspace or storage account name, for the command to run.
        header_code: the ``x-ms-error-code`` header, if any.
        identity: who asked (e.g. the token's appid), for the role hint.
    """
    code, message = error_code(body, header_code)
    quoted = code or "no error code"
    ip_match = _IP.search(message) or _IP.search(body or "")
    ip = ip_match.group(1) if ip_match else "<the agent's IP>"
    cut = (body or "").strip().replace("\n", " ")[:_BODY_LIMIT]
    if service == "synapse" and (code == "ClientIpAddressNotAuthorized" or "client ip address" in message.lower()):
        why = (f"the workspace firewall refused the client IP {ip} ({quoted}): add an allow rule, "
               f"`az synapse workspace firewall-rule create --name allow-agent --workspace-name {resource} "
               f"--resource-group <rg> --start-ip-address {ip} --end-ip-address {ip}`, or run from a self-hosted "
               "agent inside the workspace's network; a role would not help")
    elif service == "storage" and code == "AuthorizationFailure":
        why = (f"the storage account's firewall refused the request from {ip} ({quoted}): add a network rule, "
               f"`az storage account network-rule add --account-name {resource} --ip-address {ip}`, or use a "
               "self-hosted agent / private endpoint inside its network; a role would not help")
    elif service == "storage":
        why = (f"{identity} lacks a data role on the storage account ({quoted}): grant Storage Blob Data "
               f"Contributor on the container, `az role assignment create --role \"Storage Blob Data Contributor\" "
               f"--assignee <app-id> --scope <account id>/blobServices/default/containers/<container>`")
    else:
        why = (f"{identity} is signed in but lacks a Synapse RBAC role ({quoted}): grant Synapse Compute Operator "
               f"on the pool or workspace, `az synapse role assignment create --workspace-name {resource} "
               "--role \"Synapse Compute Operator\" --assignee <app-id>` (and Synapse Monitoring Operator for "
               "driver logs)")
    return f"{why}; the service said: {cut}" if cut else why


def azure_error_text(err: BaseException, *, account: str) -> str:
    """An azure-core error as one line; a 403 from storage explained (firewall or role) with its body."""
    first = str(err).splitlines()[0] if str(err) else ""
    if getattr(err, "status_code", None) != 403:
        return f"{type(err).__name__}: {first}"
    response = getattr(err, "response", None)
    try:
        body = response.text() if response is not None else ""
    except Exception:  # a streamed body already consumed: the code from the header is enough
        body = ""
    why = explain_forbidden(body or first, service="storage", resource=account,
                            header_code=getattr(err, "error_code", None))
    return f"HTTP 403: {why}"
