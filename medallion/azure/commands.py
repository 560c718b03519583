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
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from medallion import __version__
from medallion.azure import fabric, livy
from medallion.azure.bundle import build_dependency_archive
from medallion.azure.credentials import CREDENTIAL_KINDS, build_credential
from medallion.azure.devops import ado_group, ado_logissue, ado_set_output, check_failure_issues, neutralize_log_line
from medallion.azure.gate import add_gate_parser
from medallion.azure.livy import Outcome, monitoring_url
from medallion.azure.payload import DEPS_ARCHIVE, BatchSpec, build_payload
from medallion.azure.polling import run_batch
from medallion.azure.storage import collect_artifacts, download_file, publish_artifacts
from medallion.errors import ConfigError, MedallionError
from medallion.observe import driver_env_conf

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

log = logging.getLogger(__name__)

TOKEN_ENV = "MEDALLION_SYNAPSE_TOKEN"
FABRIC_TOKEN_ENV = "MEDALLION_FABRIC_TOKEN"
STORAGE_TOKEN_ENV = "MEDALLION_STORAGE_TOKEN"
_MISSING_SDK = "the Azure SDKs are not installed: pip install 'medallion[azure]'"
_JOBS = ["preflight", "bronze", "silver", "gold", "check", "report"]


class Interrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an Exception
    """SIGTERM / SIGINT / SIGHUP arrived (pipeline cancelled, job timeout); carries the signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"received {signal.Signals(signum).name}")


def add_parsers(subparsers: Any) -> None:
    """Register the Azure subcommands on the CLI's subparsers (each sets ``handler``)."""
    deps = subparsers.add_parser(
        "deps",
        help="zip the wheel's dependencies for the Spark pool's platform (deps.zip)",
        description="pip install --target with --platform manylinux2014_x86_64 --python-version 3.11 "
        "--only-binary=:all: for the wheel's requirements, zipped without the package itself.",
    )
    deps.add_argument("--wheel", type=Path, help="the wheel (default: the only dist/*.whl)")
    deps.add_argument("--dist-dir", type=Path, default=Path("dist"))
    deps.add_argument("--out", type=Path, help="the archive to write (default: {dist-dir}/deps.zip)")
    deps.add_argument("--platform", default="manylinux2014_x86_64")
    deps.add_argument("--python-version", default="3.11")
    deps.add_argument("--pip-arg", action="append", default=[], help="extra pip argument (e.g. --index-url=...)")
    _common(deps)
    deps.set_defaults(handler=deps_command)

    publish = subparsers.add_parser(
        "publish",
        help="upload the wheel, deps.zip, jobs/ and conf/ to ADLS Gen2 under a versioned folder",
        description="Upload the wheel, its dependency archive, jobs/ and conf/ (also as conf.zip) to "
        "{target}/{version}: into a staging folder first, then renamed into place.",
    )
    publish.add_argument("--target", required=True, help="abfss://container@account.dfs.core.windows.net/path")
    publish.add_argument("--version", required=True, help="folder name, e.g. the build id")
    publish.add_argument("--wheel", type=Path, help="the wheel to upload (default: the only dist/*.whl)")
    publish.add_argument("--dist-dir", type=Path, default=Path("dist"), help="where to look for the wheel")
    publish.add_argument("--deps", type=Path, help="the dependency archive (default: {dist-dir}/deps.zip)")
    publish.add_argument("--no-deps", action="store_true", help="publish without a dependency archive")
    publish.add_argument("--jobs-dir", type=Path, default=Path("jobs"))
    publish.add_argument("--conf-dir", type=Path, default=Path("conf"))
    publish.add_argument("--overwrite", action="store_true", help="replace an existing version folder")
    _common(publish, credential=True)
    publish.set_defaults(handler=publish_command)

    submit = subparsers.add_parser(
        "submit",
        help="run one job as a Synapse (or Fabric) Spark batch job and wait for it",
        description="Create a Livy batch on a Synapse Spark pool (or a Fabric lakehouse: --target fabric) for one job, "
        "poll it to a terminal state, "
        "show the driver's stderr on failure and cancel it on timeout, error or signal. "
        "Exit 0 on success, 1 on failure.",
    )
    _target(submit)
    submit.add_argument("--workspace", help="Synapse workspace name (endpoint https://{name}.dev.azuresynapse.net)")
    submit.add_argument("--pool", help="Spark pool name (Synapse)")
    submit.add_argument("--environment-id", help="Fabric: the Environment item that holds packages (default: starter pool)")
    submit.add_argument("--layer", required=True, choices=_JOBS,
                        help="the layer to run; preflight, check (post-run checks) or report (HTML report)")
    submit.add_argument("--pipeline", default="", help="pipeline name (orders) or path inside conf/")
    submit.add_argument("--env", required=True, dest="environment", help="environment file name under conf/env")
    submit.add_argument("--artifact-root", required=True, help="the folder `medallion publish` printed")
    submit.add_argument("--wheel", required=True, help="wheel file name in the artifact root (Publish's wheelName)")
    submit.add_argument("--no-deps", action="store_true", help="do not ship deps.zip (the pool has every package)")
    submit.add_argument("--job-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for the job (e.g. --job-arg=--all for report)")
    submit.add_argument("--executor-size", default="Small", help="Small | Medium | Large | XLarge | XXLarge")
    submit.add_argument("--executors", type=int, default=2)
    submit.add_argument("--timeout-minutes", type=float, default=60.0)
    submit.add_argument("--poll-seconds", type=float, default=15.0)
    submit.add_argument("--endpoint", help="base URL instead of the workspace's (e.g. a local stand-in)")
    submit.add_argument("--name", help="batch name (default medallion-{pipeline}-{layer}-{env})")
    submit.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="extra Spark setting")
    submit.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="extra batch tag")
    submit.add_argument("--subscription-id", default=os.environ.get("AZURESUBSCRIPTION_SUBSCRIPTION_ID"),
                        help="for the Synapse Studio link in failure reports")
    submit.add_argument("--resource-group", help="the workspace's resource group (for the Synapse Studio link)")
    _common(submit, credential=True)
    submit.set_defaults(handler=submit_command)

    cancel = subparsers.add_parser(
        "cancel", help="cancel (DELETE) a Synapse or Fabric batch: the pipeline's cleanup step after a cancelled run"
    )
    _target(cancel)
    cancel.add_argument("--workspace")
    cancel.add_argument("--endpoint")
    cancel.add_argument("--pool")
    cancel.add_argument("--batch-id", default="", help="the batch id (empty: nothing to cancel, exit 0)")
    _common(cancel, credential=True)
    cancel.set_defaults(handler=cancel_command)

    download = subparsers.add_parser("download", help="download one file from ADLS Gen2 (e.g. the run report)")
    download.add_argument("--source", required=True, help="abfss://container@account.dfs.core.windows.net/path")
    download.add_argument("--dest", required=True, type=Path)
    _common(download, credential=True)
    download.set_defaults(handler=download_command)

    datasets = subparsers.add_parser(
        "datasets", help="the pipelines to run: every conf/pipelines/*.yaml, or those named (a job matrix)"
    )
    datasets.add_argument("--conf-dir", type=Path, default=Path("conf"))
    datasets.add_argument("--select", default="", help="comma- or space-separated names (empty: all)")
    _common(datasets)
    datasets.set_defaults(handler=datasets_command)
    add_gate_parser(subparsers, _common)  # medallion/azure/gate.py


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


def deps_command(args: argparse.Namespace) -> int:
    """``medallion deps``: write the dependency archive; prints its path."""
    ado = _ado_enabled(args)
    try:
        wheel = args.wheel or _only_wheel(args.dist_dir)
        out = args.out or (args.dist_dir / "deps.zip")
        bundled = build_dependency_archive(wheel, out, platform=args.platform, python_version=args.python_version,
                                           extra_pip_args=args.pip_arg)
    except MedallionError as err:
        return _fail(err, ado)
    if args.output == "json":
        _emit(json.dumps({"archive": str(out), "packages": bundled}))
    else:
        for line in bundled:
            _emit(line)
        _emit(str(out))
    return 0


def publish_command(args: argparse.Namespace) -> int:
    """``medallion publish``: returns the exit code."""
    ado = _ado_enabled(args)
    _quiet_sdk_logging()
    try:
        fabric.check_onelake_target(args.target)
        wheel = args.wheel or _only_wheel(args.dist_dir)
        deps = None if args.no_deps else (args.deps or args.dist_dir / "deps.zip")
        if deps is not None and not deps.is_file():
            raise ConfigError(f"{deps}: no dependency archive; build it with `medallion deps --wheel {wheel}` "
                              "(or pass --no-deps when the pool has every package)", key="deps")
        files = collect_artifacts(wheel, args.jobs_dir, args.conf_dir, deps)
        credential = _credential(args, STORAGE_TOKEN_ENV)
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


def download_command(args: argparse.Namespace) -> int:
    """``medallion download``: one file from ADLS Gen2 to the agent."""
    ado = _ado_enabled(args)
    _quiet_sdk_logging()
    try:
        path = download_file(args.source, args.dest, credential=_credential(args, STORAGE_TOKEN_ENV))
    except ImportError as err:
        return _fail(ConfigError(f"{_MISSING_SDK} ({err.name})"), ado)
    except MedallionError as err:
        return _fail(err, ado)
    _emit(str(path))
    return 0


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


# --------------------------------------------------------------------------- submit / cancel


@contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGTERM / SIGHUP (and SIGINT) into :class:`Interrupted` while polling, so the batch is cancelled."""
    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    names = ("SIGTERM", "SIGINT", "SIGHUP")
    previous: dict[int, Any] = {}
    try:
        for name in names:
            number = getattr(signal, name, None)
            if number is not None:
                try:
                    previous[number] = signal.signal(number, handler)
                except ValueError:  # not the main thread: signals stay as they are
                    break
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


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


def submit_command(args: argparse.Namespace) -> int:
    """``medallion submit``: 0 when the batch succeeded, 1 when it failed or timed out, 143/130 on a signal."""
    ado = _ado_enabled(args)
    _quiet_sdk_logging()
    try:
        if args.timeout_minutes <= 0 or args.poll_seconds <= 0:
            raise ConfigError("--timeout-minutes and --poll-seconds must be positive", key="timeout")
        tags = {"medallion.version": __version__}
        if os.environ.get("BUILD_BUILDID"):
            tags["ado.buildId"] = os.environ["BUILD_BUILDID"]
        tags.update(_pairs(args.tag, "tag"))
        spec = BatchSpec(
            artifact_root=args.artifact_root,
            layer=args.layer,
            pipeline=args.pipeline,
            environment=args.environment,
            wheel=args.wheel,
            dependencies=None if args.no_deps else DEPS_ARCHIVE,
            executor_size=args.executor_size,
            executors=args.executors,
            conf={**driver_env_conf(os.environ), **_pairs(args.conf, "conf")},  # lineage / alert URLs for the driver
            tags=tags,
            name=args.name,
            extra_args=tuple(args.job_arg),
        )
        payload = build_payload(spec)
        if args.target == "fabric":
            payload = fabric.fabric_payload(payload, lakehouse_id=args.lakehouse_id or "",
                                            environment_id=args.environment_id)
        client = _client(args)

        def created(batch: Any) -> None:
            if ado:
                _emit(ado_set_output("batchId", str(batch["id"])))

        with _signals_raise():
            result = run_batch(
                client,
                payload,
                timeout_seconds=args.timeout_minutes * 60.0,
                poll_seconds=args.poll_seconds,
                on_created=created,
            )
    except Interrupted as err:
        message = f"{err}: the submit step was stopped; the {args.target.capitalize()} batch was cancelled"
        log.error("%s", message)
        if ado:
            _emit(ado_logissue("error", message))
        return 128 + err.signum
    except ImportError as err:
        return _fail(ConfigError(f"{_MISSING_SDK} ({err.name})"), ado)
    except MedallionError as err:
        return _fail(err, ado)

    _report(result, args, ado)
    return result.exit_code


def cancel_command(args: argparse.Namespace) -> int:
    """``medallion cancel``: DELETE the batch; exit 0 when it is gone (or there was none)."""
    ado = _ado_enabled(args)
    _quiet_sdk_logging()
    batch_id = str(args.batch_id or "").strip()
    if not batch_id or batch_id.startswith("$("):  # the output variable was never set: no batch was created
        log.info("no batch id: nothing to cancel")
        return 0
    try:
        client = _client(args)
        key: int | str = int(batch_id) if batch_id.isdigit() else batch_id
        if not client.is_batch_id(key):
            raise ConfigError(f"{batch_id!r} is not a {client.SERVICE} batch id", key="batch-id")
        batch = client.get(key)
        if livy.classify(batch) is not livy.Outcome.RUNNING:
            _emit(f"{client.SERVICE} batch {batch_id} already ended ({batch.get('state')}); nothing to cancel")
            return 0
        if not livy.cancel_batch(client, key):
            raise livy.LivyError(f"{client.SERVICE} batch {batch_id} could not be cancelled")
    except ImportError as err:
        return _fail(ConfigError(f"{_MISSING_SDK} ({err.name})"), ado)
    except MedallionError as err:
        return _fail(err, ado)
    _emit(f"{client.SERVICE} batch {batch_id} cancelled")
    return 0


def _report(result: Any, args: argparse.Namespace, ado: bool) -> None:
    what = f"{args.target.capitalize()} batch {result.batch_id} ({result.name})"
    if result.outcome is Outcome.SUCCEEDED:
        message = f"{what} succeeded in {result.elapsed_seconds:.0f} s"
    elif result.outcome is Outcome.TIMED_OUT:
        message = (f"{what} did not finish within {args.timeout_minutes:g} minutes (state {result.state}); "
                   + ("it was cancelled" if result.cancelled else "it could NOT be cancelled: delete it by hand"))
    else:
        message = f"{what} ended in state {result.state} (result {result.result or 'unknown'})"
    if result.outcome is not Outcome.SUCCEEDED:
        tail = result.failure
        if tail:
            message += f": {tail.strip()}"
        message += f" [appId {result.app_id or 'none'}"
        link = None if args.target == "fabric" else monitoring_url(
            workspace=args.workspace or "", pool=args.pool, batch_name=result.name, batch_id=result.batch_id,
            subscription_id=args.subscription_id, resource_group=args.resource_group)
        where = (f"Fabric > Monitor > Apache Spark applications (Livy id {result.batch_id})"
                 if args.target == "fabric" else "Synapse Studio > Monitor > Apache Spark applications")
        message += f"; {link}]" if link else f"; {where}]"
    if result.outcome is Outcome.SUCCEEDED:
        log.info("%s", message)
    else:
        log.error("%s", message)
    if args.output == "json":
        if ado and result.outcome is not Outcome.SUCCEEDED:
            _emit(ado_logissue("error", message))
        _emit(json.dumps(result.as_dict()))
        return
    if result.outcome is not Outcome.SUCCEEDED and result.driver_log_note:
        _emit(ado_logissue("warning", result.driver_log_note) if ado else f"note: {result.driver_log_note}")
    if result.outcome is not Outcome.SUCCEEDED:
        sections = [(f"Launcher log of {what}, last {len(result.log_lines)} lines", result.log_lines),
                    (f"Driver stderr of {what} (appId {result.app_id}), last {len(result.driver_stderr)} lines",
                     result.driver_stderr),
                    (f"Driver stdout of {what} (appId {result.app_id}), last {len(result.driver_stdout)} lines",
                     result.driver_stdout)]
        for title, lines in sections:
            if ado:
                for line in ado_group(title, lines):
                    _emit(line)
            else:
                _emit(f"--- {title} ---")
                for line in lines:
                    _emit(neutralize_log_line(line.rstrip("\r\n")))
                _emit("--- end ---")
        if ado:
            if args.layer == "check":
                for issue in check_failure_issues(result.driver_stdout):
                    _emit(issue)
            _emit(ado_logissue("error", message))
    _emit(message)
