"""What the Azure subcommands share: the common options, DevOps output, errors, credentials and the batch client.

The handlers live in :mod:`medallion.azure.publish_commands` (``deps``, ``publish``, ``download``),
:mod:`medallion.azure.submit_commands` (``submit``, ``cancel``), :mod:`medallion.azure.commands`
(``datasets``) and :mod:`medallion.azure.gate` (``gate``). Tokens are never printed or logged.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from medallion.azure import fabric, livy
from medallion.azure.credentials import CREDENTIAL_KINDS, build_credential
from medallion.azure.devops import ado_logissue
from medallion.errors import ConfigError, MedallionError

log = logging.getLogger(__name__)

TOKEN_ENV = "MEDALLION_SYNAPSE_TOKEN"
FABRIC_TOKEN_ENV = "MEDALLION_FABRIC_TOKEN"
STORAGE_TOKEN_ENV = "MEDALLION_STORAGE_TOKEN"
_MISSING_SDK = "the Azure SDKs are not installed: pip install 'medallion[azure]'"


class Interrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an Exception
    """SIGTERM / SIGINT / SIGHUP arrived (pipeline cancelled, job timeout); carries the signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"received {signal.Signals(signum).name}")

def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", choices=["synapse", "fabric"], default="synapse",
                        help="synapse (a Spark pool; the default) or fabric (a lakehouse's Livy endpoint)")
    parser.add_argument("--workspace-id", help="Fabric workspace id (GUID)")
    parser.add_argument("--lakehouse-id", help="Fabric lakehouse id (GUID)")


def _common(parser: argparse.ArgumentParser, *, credential: bool = False) -> None:
    parser.add_argument("--output", choices=["text", "json"], default="text")
    parser.add_argument(
        "--ado",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print Azure DevOps logging commands (default: when TF_BUILD=True)",
    )
    if credential:

        parser.add_argument("--credential", choices=CREDENTIAL_KINDS, default="auto",
                            help="auto: AzurePipelinesCredential in a pipeline step, else a handed-over token, "
                            "else DefaultAzureCredential")


def _ado_enabled(args: argparse.Namespace) -> bool:
    if args.ado is not None:
        return bool(args.ado)
    return os.environ.get("TF_BUILD", "").lower() == "true"


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _pairs(values: list[str], key: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{item!r} is not KEY=VALUE", key=key)
        out[name.strip()] = value
    return out


def _fail(err: BaseException, ado: bool) -> int:
    code = err.exit_code if isinstance(err, MedallionError) else 2
    log.error("%s", err)
    if ado:
        _emit(ado_logissue("error", str(err)))
    return code


def _quiet_sdk_logging() -> None:
    # azure-core logs every request and response header at INFO; keep the step log readable.
    logging.getLogger("azure").setLevel(max(logging.WARNING, logging.getLogger("azure").getEffectiveLevel()))


def _only_wheel(dist: Path) -> Path:
    wheels = sorted(dist.glob("medallion-*.whl"))
    if len(wheels) != 1:
        raise ConfigError(f"expected exactly one medallion wheel in {dist}, found {len(wheels)}; pass --wheel",
                          key="wheel")
    return wheels[0]


def _credential(args: argparse.Namespace, token_env: str) -> Any:
    return build_credential(args.credential, token_env=token_env)


# --------------------------------------------------------------------------- deps / publish / download

def _client(args: argparse.Namespace) -> Any:
    if args.target == "fabric":
        if not (args.workspace_id and args.lakehouse_id):
            raise ConfigError("--target fabric needs --workspace-id and --lakehouse-id", key="lakehouse-id")
        return fabric.FabricLivyClient(args.endpoint or fabric.FABRIC_API, args.workspace_id, args.lakehouse_id,
                                       _credential(args, FABRIC_TOKEN_ENV))
    if not args.pool:
        raise ConfigError("pass --pool (the Synapse Spark pool)", key="pool")
    if not args.endpoint and not args.workspace:
        raise ConfigError("pass --workspace (or --endpoint)", key="workspace")
    endpoint = args.endpoint or livy.workspace_endpoint(args.workspace)
    return livy.LivyClient(endpoint, args.pool, _credential(args, TOKEN_ENV))

