"""The Azure subcommands: ``deps``, ``publish``, ``submit``, ``cancel``, ``download`` and ``datasets``.

``medallion.cli`` registers them with :func:`add_parsers` and dispatches ``args.handler(args)``. The
Azure SDKs are imported inside the handlers only, so ``medallion run`` never loads them.

The commands print Azure DevOps logging commands (``##vso[...]``) when running on an agent
(``TF_BUILD=True``) or with ``--ado``; human-readable progress goes to stderr through logging.

Credentials (``--credential``, see :mod:`medallion.azure.credentials`): by default
``AzurePipelinesCredential`` inside a pipeline step that maps ``SYSTEM_ACCESSTOKEN``, else a token handed
over in ``MEDALLION_SYNAPSE_TOKEN`` / ``MEDALLION_STORAGE_TOKEN`` (cannot be renewed), else
``DefaultAzureCredential``. Tokens are never printed or logged.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from medallion.azure.cli_common import (
    FABRIC_TOKEN_ENV,
    STORAGE_TOKEN_ENV,
    TOKEN_ENV,
    Interrupted,
    _ado_enabled,
    _common,
    _emit,
    _fail,
)
from medallion.azure.devops import ado_set_output
from medallion.azure.gate import add_gate_parser
from medallion.azure.publish_commands import add_publish_parsers, deps_command, download_command, publish_command
from medallion.azure.submit_commands import add_submit_parsers, cancel_command, submit_command
from medallion.errors import ConfigError

__all__ = [
    "add_parsers",
    "deps_command",
    "publish_command",
    "submit_command",
    "cancel_command",
    "download_command",
    "datasets_command",
    "TOKEN_ENV",
    "FABRIC_TOKEN_ENV",
    "STORAGE_TOKEN_ENV",
    "Interrupted",
]



def add_parsers(subparsers: Any) -> None:
    """Register the Azure subcommands on the CLI's subparsers (each sets ``handler``)."""
    add_publish_parsers(subparsers)  # deps, publish, download
    add_submit_parsers(subparsers)  # submit, cancel
    datasets = subparsers.add_parser(
        "datasets", help="the pipelines to run: every conf/pipelines/*.yaml, or those named (a job matrix)"
    )
    datasets.add_argument("--conf-dir", type=Path, default=Path("conf"))
    datasets.add_argument("--select", default="", help="comma- or space-separated names (empty: all)")
    _common(datasets)
    datasets.set_defaults(handler=datasets_command)
    add_gate_parser(subparsers, _common)  # medallion/azure/gate.py


def datasets_command(args: argparse.Namespace) -> int:
    """``medallion datasets``: the pipeline names to run, as a job matrix (output variable ``matrix``)."""
    ado = _ado_enabled(args)
    folder = args.conf_dir / "pipelines"
    available = sorted({p.stem for p in folder.glob("*.yaml")} | {p.stem for p in folder.glob("*.yml")})
    wanted = [n for n in args.select.replace(",", " ").split() if n]
    try:
        if not available:
            raise ConfigError(f"{folder}: no pipeline files", key="datasets")
        unknown = sorted(set(wanted) - set(available))
        if unknown:
            raise ConfigError(f"unknown dataset(s) {unknown}; {folder} holds {available}", key="datasets")
    except ConfigError as err:
        return _fail(err, ado)
    chosen = wanted or available
    matrix = {name.replace("-", "_"): {"dataset": name} for name in chosen}
    if ado:
        _emit(ado_set_output("matrix", json.dumps(matrix, separators=(",", ":"))))
        _emit(ado_set_output("names", " ".join(chosen)))
    if args.output == "json":
        _emit(json.dumps(chosen))
    else:
        for name in chosen:
            _emit(name)
    return 0

