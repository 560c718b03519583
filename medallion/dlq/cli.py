"""``medallion dlq inspect|replay|discard``: the dead-letter subcommands of the CLI (see :mod:`medallion.cli`)."""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from typing import Any

#: ``args`` -> ``(spark, env, pipeline, pipeline_path)``: medallion.cli's loading of the files and the session.
SessionFactory = Callable[[argparse.Namespace], Any]


def add_dlq_parser(sub: argparse._SubParsersAction, common: Callable[..., None],  # type: ignore[type-arg]
                   configured_session: SessionFactory) -> None:
    """Register ``medallion dlq inspect|replay|discard``; ``configured_session`` loads the files and starts Spark."""
    dlq = sub.add_parser("dlq", help="inspect, replay or discard the pipeline's dead letters")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)

    inspect = actions.add_parser("inspect", help="dead letters by rule and run, with status counts and samples")
    common(inspect)
    inspect.add_argument("--samples", type=int, default=3, help="sample rows per rule (default: 3)")
    inspect.add_argument("--output", choices=["text", "json"], default="text")
    inspect.set_defaults(handler=partial(cmd_dlq_inspect, configured_session=configured_session))

    replay = actions.add_parser("replay", help="re-evaluate pending dead letters under the current config")
    common(replay)
    replay.add_argument("--rule", help="only rows that failed this rule")
    replay.add_argument("--run-id", help="only rows quarantined by this silver run")
    replay.add_argument("--dry-run", action="store_true", help="report what would happen; write nothing")
    replay.add_argument("--output", choices=["text", "json"], default="text")
    replay.set_defaults(handler=partial(cmd_dlq_replay, configured_session=configured_session))

    discard = actions.add_parser("discard", help="mark pending dead letters discarded (never replayed)")
    common(discard)
    which = discard.add_mutually_exclusive_group(required=True)
    which.add_argument("--rule", help="rows that failed this rule")
    which.add_argument("--run-id", help="rows quarantined by this silver run")
    discard.add_argument("--reason", required=True, help="why (recorded with the rows)")
    discard.add_argument("--output", choices=["text", "json"], default="text")
    discard.set_defaults(handler=partial(cmd_dlq_discard, configured_session=configured_session))


def cmd_dlq_inspect(args: argparse.Namespace, *, configured_session: SessionFactory) -> int:
    """``medallion dlq inspect``."""
    from medallion.dlq.commands import format_inspection, inspect

    spark, env, pipeline, _ = configured_session(args)
    report = inspect(spark, env, pipeline, samples=args.samples)
    print(json.dumps(report, default=str) if args.output == "json" else format_inspection(report))
    return 0


def _outcome_json(run_id: str, record_or_outcome: object) -> str:
    from medallion.audit.outcome import LayerOutcome

    outcome = record_or_outcome if isinstance(record_or_outcome, LayerOutcome) else record_or_outcome.outcome  # type: ignore[attr-defined]
    return json.dumps({"run_id": run_id, "status": str(outcome.status), **asdict(outcome)}, default=str)


def cmd_dlq_replay(args: argparse.Namespace, *, configured_session: SessionFactory) -> int:
    """``medallion dlq replay``."""
    from medallion.audit.outcome import RunContext
    from medallion.clock import new_run_id, utc_now
    from medallion.dlq.commands import Selection, log_run
    from medallion.dlq.replay import LAYER, format_replay, replay

    spark, env, pipeline, _ = configured_session(args)
    run = RunContext(new_run_id(), utc_now())
    selection = Selection(rule=args.rule, run_id=args.run_id)
    if args.dry_run:
        outcome = replay(spark, env, pipeline, selection, run, dry_run=True)
    else:
        outcome = log_run(spark, env, pipeline, LAYER, run, lambda: replay(spark, env, pipeline, selection, run)).outcome
    print(_outcome_json(run.run_id, outcome) if args.output == "json" else format_replay(outcome, run_id=run.run_id))
    return 0


def cmd_dlq_discard(args: argparse.Namespace, *, configured_session: SessionFactory) -> int:
    """``medallion dlq discard``."""
    from medallion.audit.outcome import RunContext
    from medallion.clock import new_run_id, utc_now
    from medallion.dlq.commands import Selection, discard, log_run

    spark, env, pipeline, _ = configured_session(args)
    run = RunContext(new_run_id(), utc_now())
    selection = Selection(rule=args.rule, run_id=args.run_id)
    record = log_run(spark, env, pipeline, "dlq_discard", run,
                     lambda: discard(spark, env, pipeline, selection, reason=args.reason, run=run))
    if args.output == "json":
        print(_outcome_json(run.run_id, record))
    else:
        d = record.outcome.details
        print(f"dlq discard (run {run.run_id}): {record.outcome.rows_out} {d.get('selection', '')} discarded "
              f"by {d.get('by')}: {d.get('reason')}")
    return 0
