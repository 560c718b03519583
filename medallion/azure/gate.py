"""``medallion gate``: may this dataset's next job run, given how its earlier batches of this run ended?

The pipeline runs one job per layer with a leg per dataset. A failed leg fails its job, and before this gate
the next layer's job was skipped for every dataset. Now the next job runs when the earlier one failed (its
condition), and each leg asks first: did this run's batches of the layers this one reads, for this dataset,
succeed (and, for gold and check, the silver of every dataset its gold reads, as ``run --all`` does)? The
batches are found on the pool by their tags (``ado.buildId``, ``medallion.pipeline``, ``medallion.layer``,
``medallion.environment``, set by ``medallion submit``). A blocked leg sets the job variable ``skipSubmit``
(the submit step's condition) and a warning naming what failed; it exits 0, so only the failed dataset's own
leg fails its job.

Example:
    >>> blocked_by(client, build_id="4242", environment="dev", wanted=[("orders", "bronze")])  # doctest: +SKIP
    ['bronze of orders ended dead (batch 17)']
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from medallion.azure import cli_common
from medallion.azure.devops import ado_logissue
from medallion.errors import ConfigError, MedallionError

__all__ = ["add_gate_parser", "blocked_by", "required_batches"]

log = logging.getLogger(__name__)
_PAGE = 100
_MAX_PAGES = 50
LAYERS = ("preflight", "bronze", "silver", "gold", "check")


def required_batches(dataset: str, layer: str, after: list[str], conf_dir: Path | None) -> list[tuple[str, str]]:
    """``(dataset, layer)`` batches of this run that must have succeeded before ``layer`` of ``dataset``."""
    wanted = [(dataset, earlier) for earlier in after]
    if layer in ("gold", "check") and "silver" in after and conf_dir is not None:
        from medallion.project import load_project

        project = load_project(conf_dir)
        pipeline = project.find(dataset)
        wanted += sorted({(other, "silver") for read, other in project.needs(pipeline) if read == "silver"})
    return list(dict.fromkeys(wanted))


def blocked_by(client: Any, *, build_id: str, environment: str, wanted: list[tuple[str, str]]) -> list[str]:
    """Why the wanted batches do not all stand succeeded in this run (empty: go ahead)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    start = 0
    for _ in range(_MAX_PAGES):
        page = client.list(start=start, size=_PAGE) or {}
        sessions = page.get("sessions") or []
        for batch in sessions:
            tags = batch.get("tags") or {}
            key = (tags.get("medallion.pipeline"), tags.get("medallion.layer"))
            if tags.get("ado.buildId") != build_id or tags.get("medallion.environment") != environment:
                continue
            if key in wanted and int(batch.get("id", -1)) > int(latest.get(key, {}).get("id", -1)):
                latest[key] = batch  # a re-run job's batch replaces the earlier attempt's
        start += len(sessions)
        if not sessions or start >= int(page.get("total") or 0):
            break
    reasons = []
    for dataset, layer in wanted:
        batch = latest.get((dataset, layer))
        if batch is None:
            reasons.append(f"{layer} of {dataset} has no batch in this run")
        elif str(batch.get("state")) != "success":
            reasons.append(f"{layer} of {dataset} ended {batch.get('state')} (batch {batch.get('id')})")
    return reasons


def add_gate_parser(subparsers: Any, common: Any) -> None:
    gate = subparsers.add_parser("gate", help="may this dataset's next Synapse job run (its earlier batches of "
                                 "this run succeeded)? sets skipSubmit when not")
    gate.add_argument("--workspace", help="Synapse workspace name")
    gate.add_argument("--endpoint", help="base URL instead of the workspace's (e.g. a local stand-in)")
    gate.add_argument("--pool", required=True)
    gate.add_argument("--layer", required=True, choices=LAYERS)
    gate.add_argument("--pipeline", required=True, help="the dataset")
    gate.add_argument("--env", required=True, dest="environment")
    gate.add_argument("--after", required=True, help="comma-separated layers this run ran before this one")
    gate.add_argument("--conf-dir", type=Path, default=Path("conf"))
    gate.add_argument("--build-id", default=os.environ.get("BUILD_BUILDID", ""))
    common(gate, credential=True)
    gate.set_defaults(handler=gate_command)


def gate_command(args: argparse.Namespace) -> int:
    """Exit 0 either way (a blocked leg is skipped, not failed); 1 when the pool cannot be asked."""
    ado = cli_common._ado_enabled(args)
    try:
        after = [a for a in args.after.replace(" ", "").split(",") if a]
        unknown = sorted(set(after) - set(LAYERS))
        if unknown or not args.build_id:
            raise ConfigError(f"--after {unknown} not layers" if unknown else "no --build-id (BUILD_BUILDID)",
                              key="gate")
        wanted = required_batches(args.pipeline, args.layer, after, args.conf_dir)
        reasons = blocked_by(cli_common._client(args), build_id=args.build_id, environment=args.environment,
                             wanted=wanted)
    except MedallionError as err:
        return cli_common._fail(err, ado)
    if not reasons:
        cli_common._emit(f"{args.layer} of {args.pipeline}: every earlier batch of this run succeeded")
        return 0
    message = f"{args.layer} of {args.pipeline} skipped: " + "; ".join(reasons)
    log.warning("%s", message)
    if ado:
        cli_common._emit(ado_logissue("warning", message))
        cli_common._emit("##vso[task.setvariable variable=skipSubmit]true")
    cli_common._emit(message)
    return 0
