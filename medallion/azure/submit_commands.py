"""``medallion submit`` and ``cancel``: one job as a Synapse or Fabric (Livy) batch, polled, reported, cancelled."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from medallion import __version__
from medallion.azure import fabric, livy
from medallion.azure.cli_common import (
    _MISSING_SDK,
    Interrupted,
    _ado_enabled,
    _client,
    _common,
    _emit,
    _fail,
    _pairs,
    _quiet_sdk_logging,
    _target,
)
from medallion.azure.devops import ado_group, ado_logissue, ado_set_output, check_failure_issues, neutralize_log_line
from medallion.azure.livy import Outcome, monitoring_url
from medallion.azure.payload import DEPS_ARCHIVE, BatchSpec, build_payload
from medallion.azure.polling import run_batch
from medallion.errors import ConfigError, MedallionError
from medallion.observe import driver_env_conf

log = logging.getLogger(__name__)

_JOBS = ["preflight", "bronze", "silver", "gold", "check", "report"]


def add_submit_parsers(subparsers: Any) -> None:
    """Register ``submit`` and ``cancel`` (each sets ``handler``)."""
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
