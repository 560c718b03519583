"""Access tokens for Synapse and ADLS: which credential, how long its tokens live, why one was refused.

A pipeline job may poll a Spark batch for 180 minutes, longer than one access token lives (60-90
minutes). The credential is therefore asked for a token before every request (azure-identity caches
and renews them), never once at the start:

* in Azure Pipelines, :class:`azure.identity.AzurePipelinesCredential` over the step's service
  connection (workload identity federation): it fetches a fresh OIDC assertion from the pipeline for
  every renewal, so it lasts the whole job. It needs ``SYSTEM_ACCESSTOKEN`` (mapped in the step's
  ``env:``) and the ``AZURESUBSCRIPTION_CLIENT_ID`` / ``_TENANT_ID`` / ``_SERVICE_CONNECTION_ID``
  variables that ``AzurePowerShell@5`` and ``AzureCLI@2`` set;
* elsewhere ``DefaultAzureCredential`` (environment, workload identity, managed identity, Azure CLI,
  Azure PowerShell);
* a token handed over in an environment variable (:class:`StaticTokenCredential`) only when asked
  for: it cannot be renewed, and its real expiry is read from the token, not guessed.

Tokens are held in memory only: never logged, printed or put in an exception message. What *is*
reported about a refused token is its audience and expiry (the JWT claims ``aud`` and ``exp``), which
tell an expired token from a token for the wrong resource.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from medallion.errors import ConfigError

__all__ = [
    "SYNAPSE_SCOPE",
    "STORAGE_SCOPE",
    "CREDENTIAL_KINDS",
    "AccessTokenLike",
    "TokenCredential",
    "StaticTokenCredential",
    "token_claims",
    "describe_token",
    "pipelines_credential_available",
    "build_credential",
]

log = logging.getLogger(__name__)

SYNAPSE_SCOPE = "https://dev.azuresynapse.net/.default"
STORAGE_SCOPE = "https://storage.azure.com/.default"
CREDENTIAL_KINDS = ("auto", "pipelines", "default", "cli", "powershell", "token")

_PIPELINES_ENV = (
    "SYSTEM_ACCESSTOKEN",
    "AZURESUBSCRIPTION_CLIENT_ID",
    "AZURESUBSCRIPTION_TENANT_ID",
    "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID",
)


class AccessTokenLike(Protocol):
    token: str
    expires_on: int


class TokenCredential(Protocol):
    """The azure-core credential protocol (``DefaultAzureCredential`` satisfies it)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessTokenLike: ...


@dataclass(frozen=True)
class _Token:
    token: str = field(repr=False)
    expires_on: int = 0


def token_claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a JWT access token; ``{}`` when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_token(token: str, *, now: float | None = None) -> str:
    """What can be said about a token without showing it: audience, expiry, identity object id."""
    claims = token_claims(token)
    if not claims:
        return "the token is not a JWT (audience and expiry unknown)"
    now = time.time() if now is None else now
    parts = [f"audience {claims.get('aud', '?')}"]
    if isinstance(claims.get("exp"), int | float):
        exp = float(claims["exp"])
        parts.append(f"{'expired' if exp <= now else 'expires'} {_utc(exp)}")
    if claims.get("oid") or claims.get("appid"):
        parts.append(f"identity {claims.get('appid') or claims.get('oid')}")
    return ", ".join(parts)


class StaticTokenCredential:
    """A credential around one token obtained elsewhere; it cannot be renewed.

    The expiry comes from the token's ``exp`` claim (0, i.e. unknown, when it is not a JWT); the token
    is kept out of ``repr`` and logs.
    """

    renewable = False

    def __init__(self, token: str) -> None:
        exp = token_claims(token).get("exp")
        self._token = _Token(token, int(exp) if isinstance(exp, int | float) else 0)

    def __repr__(self) -> str:
        return "StaticTokenCredential(<redacted>)"

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessTokenLike:
        return self._token


def pipelines_credential_available(environ: Mapping[str, str] | None = None) -> bool:
    """True inside an Azure Pipelines step that can use ``AzurePipelinesCredential``."""
    env = os.environ if environ is None else environ
    return all(env.get(name) for name in _PIPELINES_ENV)


def build_credential(kind: str = "auto", *, token_env: str | None = None,
                     environ: Mapping[str, str] | None = None) -> Any:
    """The credential for ``kind`` (see ``CREDENTIAL_KINDS``).

    ``auto``: ``AzurePipelinesCredential`` when the step provides it, else a token handed over in
    ``token_env`` when set (with a warning: it cannot be renewed), else ``DefaultAzureCredential``.

    Raises:
        ConfigError: unknown kind, or the environment lacks what the kind needs.
        ImportError: azure-identity is not installed (the ``azure`` extra).
    """
    env = os.environ if environ is None else environ
    if kind not in CREDENTIAL_KINDS:
        raise ConfigError(f"unknown credential {kind!r}; expected one of {list(CREDENTIAL_KINDS)}", key="credential")
    if kind == "token" or (kind == "auto" and token_env and env.get(token_env)
                           and not pipelines_credential_available(env)):
        token = env.get(token_env or "", "")
        if not token:
            raise ConfigError(f"--credential token needs the token in {token_env}", key="credential")
        credential = StaticTokenCredential(token)
        log.warning("using the token handed over in %s: it cannot be renewed (%s)", token_env,
                    describe_token(token))
        return credential
    import azure.identity as identity

    if kind == "pipelines" or (kind == "auto" and pipelines_credential_available(env)):
        missing = [name for name in _PIPELINES_ENV if not env.get(name)]
        if missing:
            raise ConfigError(
                f"AzurePipelinesCredential needs {', '.join(missing)} (map SYSTEM_ACCESSTOKEN: $(System.AccessToken) "
                "in the step's env; AzurePowerShell@5 / AzureCLI@2 set the AZURESUBSCRIPTION_* variables)",
                key="credential",
            )
        log.info("credential: AzurePipelinesCredential (service connection %s)",
                 env["AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"])
        return identity.AzurePipelinesCredential(
            tenant_id=env["AZURESUBSCRIPTION_TENANT_ID"],
            client_id=env["AZURESUBSCRIPTION_CLIENT_ID"],
            service_connection_id=env["AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"],
            system_access_token=env["SYSTEM_ACCESSTOKEN"],
        )
    if kind == "cli":
        return identity.AzureCliCredential()
    if kind == "powershell":
        return identity.AzurePowerShellCredential()
    return identity.DefaultAzureCredential(exclude_interactive_browser_credential=True)
