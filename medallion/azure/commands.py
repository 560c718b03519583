"""The ``medallion publish`` and ``medallion submit`` subcommands.

``medallion.cli`` registers them with :func:`add_parsers` and dispatches ``args.handler(args)``. The
Azure SDKs are imported inside the handlers only, so ``medallion run`` never loads them.

Both commands print Azure DevOps logging commands (``##vso[...]``) when running on an agent
(``TF_BUILD=True``) or with ``--ado``; human-readable progress goes to stderr through logging.

Credentials: ``DefaultAzureCredential`` (workload identity, managed identity, Azure CLI, Azure
PowerShell, ...), unless a token was handed over in ``MEDALLION_SYNAPSE_TOKEN`` (submit) or
``MEDALLION_STORAGE_TOKEN`` (publish): what the PowerShell scripts do inside ``AzurePowerShell@5``,
whose sign-in a child process cannot reuse. Tokens are never printed or logged.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from medallion.errors import ConfigError, MedallionError

__all__ = ["add_parsers", "publish_command", "submit_command", "TOKEN_ENV", "STORAGE_TOKEN_ENV"]

log = logging.getLogger(__name__)

TOKEN_ENV = "MEDALLION_SYNAPSE_TOKEN"
STORAGE_TOKEN_ENV = "MEDALLION_STORAGE_TOKEN"
_MISSING_SDK = "the Azure SDKs are not installed: pip install 'medallion[azure]'"


def add_parsers(subparsers: Any) -> None:
    """Register ``publish`` and ``submit`` on the CLI's subparsers (each sets ``handler``)."""
    publish = subparsers.add_parser(
        "publish",
        help="upload the wheel, jobs/ and conf/ to ADLS Gen2 under a versioned folder",
        description="Upload the wheel, jobs/ and conf/ (also as conf.zip) to {target}/{version}: "
        "into a staging folder first, then renamed into place.",
    )
    publish.add_argument("--target", required=True, help="abfss://container@account.dfs.core.windows.net/path")
    publish.add_argument("--version", required=True, help="folder name, e.g. the build id")
    publish.add_argument("--wheel", type=Path, help="the wheel to upload (default: the only dist/*.whl)")
    publish.add_argument("--dist-dir", type=Path, default=Path("dist"), help="where to look for the wheel")
    publish.add_argument("--jobs-dir", type=Path, default=Path("jobs"))
    publish.add_argument("--conf-dir", type=Path, default=Path("conf"))
    publish.add_argument("--overwrite", action="store_true", help="replace an existing version folder")
    _common(publish)
    publish.set_defaults(handler=publish_command)

    submit = subparsers.add_parser(
        "submit",
        help="run one layer as a Synapse Spark batch job and wait for it",
        description="Create a Livy batch on a Synapse Spark pool for one layer, poll it to a terminal state, "
        "show its log on failure and cancel it when the timeout passes. Exit 0 on success, 1 on failure.",
    )
    submit.add_argument("--workspace", help="Synapse workspace name (endpoint https://{name}.dev.azuresynapse.net)")
    submit.add_argument("--pool", required=True, help="Spark pool name")
    submit.add_argument("--layer", required=True, choices=["bronze", "silver", "gold", "check"],
                        help="the layer to run, or check: the post-run data-quality checks")
    submit.add_argument("--pipeline", required=True, help="pipeline name (orders) or path inside conf/")
    submit.add_argument("--env", required=True, dest="environment", help="environment file name under conf/env")
    submit.add_argument("--artifact-root", required=True, help="the folder `medallion publish` printed")
    submit.add_argument("--wheel", help="wheel file name in the artifact root (default: this version's wheel)")
    submit.add_argument("--executor-size", default="Small", help="Small | Medium | Large | XLarge | XXLarge")
    submit.add_argument("--executors", type=int, default=2)
    submit.add_argument("--timeout-minutes", type=float, default=60.0)
    submit.add_argument("--poll-seconds", type=float, default=15.0)
    submit.add_argument("--endpoint", help="base URL instead of the workspace's (e.g. a local stand-in)")
    submit.add_argument("--name", help="batch name (default medallion-{pipeline}-{layer}-{env})")
    submit.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="extra Spark setting")
    submit.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="extra batch tag")
    _common(submit)
    submit.set_defaults(handler=submit_command)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", choices=["text", "json"], default="text")
    parser.add_argument(
        "--ado",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print Azure DevOps logging commands (default: when TF_BUILD=True)",
    )


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
        from medallion.azure.livy import ado_logissue

        _emit(ado_logissue("error", str(err)))
    return code


# --------------------------------------------------------------------------- publish


def _quiet_sdk_logging() -> None:
    # azure-core logs every request and response header at INFO; keep the step log readable.
    logging.getLogger("azure").setLevel(max(logging.WARNING, logging.getLogger("azure").getEffectiveLevel()))


def publish_command(args: argparse.Namespace) -> int:
    """``medallion publish``: returns the exit code."""
    ado = _ado_enabled(args)
    _quiet_sdk_logging()
    try:
        from medallion.azure.livy import ado_set_output
        from medallion.azure.storage import collect_artifacts, publish_artifacts

        wheel = args.wheel or _only_wheel(args.dist_dir)
        files = collect_artifacts(wheel, args.jobs_dir, args.conf_dir)
        credential = _credential(STORAGE_TOKEN_ENV)
        root = publish_artifacts(args.target, args.version, files, credential=credential, overwrite=args.overwrite)
    except ImportError as err:
        return _fail(ConfigError(f"{_MISSING_SDK} ({err.name})"), ado)
    except MedallionError as err:
        return _fail(err, ado)
    if ado:
        _emit(ado_set_output("artifactRoot", root))
        _emit(ado_set_output("wheelName", wheel.name))
    if args.output == "json":
        _emit(json.dumps({"artifact_root": root, "wheel": wheel.name, "files": sorted(files)}))
    else:
        _emit(root)
    return 0


def _only_wheel(dist: Path) -> Path:
    wheels = sorted(dist.glob("medallion-*.whl"))
    if len(wheels) != 1:
        raise ConfigError(f"expected exactly one medallion wheel in {dist}, found {len(wheels)}; pass --wheel",
                          key="wheel")
    return wheels[0]


def _default_credential() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


# --------------------------------------------------------------------------- submit


def submit_command(args: argparse.Namespace) -> int:
    """``medallion submit``: returns 0 when the batch succeeded, 1 when it failed or timed out."""
    ado = _ado_enabled(args)
    _quiet_sdk_logging()
    try:
        from medallion import __version__
        from medallion.azure import livy

        if not args.endpoint and not args.workspace:
            raise ConfigError("pass --workspace (or --endpoint)", key="workspace")
        if args.timeout_minutes <= 0 or args.poll_seconds <= 0:
            raise ConfigError("--timeout-minutes and --poll-seconds must be positive", key="timeout")
        tags = {"medallion.version": __version__}
        if os.environ.get("BUILD_BUILDID"):
            tags["ado.buildId"] = os.environ["BUILD_BUILDID"]
        tags.update(_pairs(args.tag, "tag"))
        spec = livy.BatchSpec(
            artifact_root=args.artifact_root,
            layer=args.layer,
            pipeline=args.pipeline,
            environment=args.environment,
            wheel=args.wheel or f"medallion-{__version__}-py3-none-any.whl",
            executor_size=args.executor_size,
            executors=args.executors,
            conf=_pairs(args.conf, "conf"),
            tags=tags,
            name=args.name,
        )
        payload = livy.build_payload(spec)
        endpoint = args.endpoint or livy.workspace_endpoint(args.workspace)
        client = livy.LivyClient(livy.batches_url(endpoint, args.pool), _credential(TOKEN_ENV))

        def created(batch: Any) -> None:
            if ado:
                _emit(livy.ado_set_output("batchId", str(batch["id"])))

        result = livy.run_batch(
            client,
            payload,
            timeout_seconds=args.timeout_minutes * 60.0,
            poll_seconds=args.poll_seconds,
            on_created=created,
        )
    except ImportError as err:
        return _fail(ConfigError(f"{_MISSING_SDK} ({err.name})"), ado)
    except MedallionError as err:
        return _fail(err, ado)

    _report(result, args, ado)
    return result.exit_code


def _credential(token_env: str) -> Any:
    from medallion.azure.livy import StaticTokenCredential

    token = os.environ.get(token_env)
    if token:
        return StaticTokenCredential(token)
    return _default_credential()


def _report(result: Any, args: argparse.Namespace, ado: bool) -> None:
    from medallion.azure.livy import Outcome, ado_group, ado_logissue, neutralize_log_line

    what = f"Synapse batch {result.batch_id} ({result.name})"
    if result.outcome is Outcome.SUCCEEDED:
        message = f"{what} succeeded in {result.elapsed_seconds:.0f} s"
    elif result.outcome is Outcome.TIMED_OUT:
        message = (f"{what} did not finish within {args.timeout_minutes:g} minutes (state {result.state}); "
                   "it was cancelled")
    else:
        message = f"{what} ended in state {result.state} (result {result.result or 'unknown'})"
    if result.outcome is Outcome.SUCCEEDED:
        log.info("%s", message)
    else:
        log.error("%s", message)
    if args.output == "json":
        if ado and result.outcome is not Outcome.SUCCEEDED:
            _emit(ado_logissue("error", message))
        _emit(json.dumps(result.as_dict()))
        return
    if result.outcome is not Outcome.SUCCEEDED:
        title = f"Log of {what}, last {len(result.log_lines)} lines"
        if ado:
            for line in ado_group(title, result.log_lines):
                _emit(line)
            _emit(ado_logissue("error", message))
        else:
            _emit(f"--- {title} ---")
            for line in result.log_lines:
                _emit(neutralize_log_line(line.rstrip("\r\n")))
            _emit("--- end of log ---")
    _emit(message)
