"""Gold's Z-order decision: ``OPTIMIZE ... ZORDER BY`` only where it can pay.

Z-ordering sorts a partition's rows across several files so readers skip files by the Z-order columns'
min/max. A partition whose new files sum to no more than one OPTIMIZE output file
(``spark.databricks.delta.optimize.maxFileSize``, default 1 GiB: :func:`zorder_threshold`) would be
rewritten into one file, which no reader can skip within, so the rewrite gains nothing. The files and
bytes per partition are taken from the write's own commit (its ``add`` actions, read on the driver with
no Spark job: :func:`files_per_partition`). Running the OPTIMIZE is :func:`medallion.maintenance.optimize_zorder`.

Example:
    >>> zorder_decision({"{}": (4, 900)}, 1000).run
    False
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from pyspark.sql import SparkSession

from medallion.delta_table import commit_actions

__all__ = ["ZorderDecision", "zorder_decision", "zorder_threshold", "files_per_partition"]

log = logging.getLogger(__name__)

_OPTIMIZE_MAX_FILE_SIZE = "spark.databricks.delta.optimize.maxFileSize"
_DEFAULT_OPTIMIZE_MAX_FILE_SIZE = 1024**3  # Delta's default


@dataclass(frozen=True)
class ZorderDecision:
    """Whether to Z-order after a write, why, and the figures it was decided on."""

    run: bool
    reason: str
    files: int
    bytes: int
    partitions: int
    partitions_worth_it: int
    threshold_bytes: int


def zorder_decision(partitions: dict[str, tuple[int, int]], threshold_bytes: int) -> ZorderDecision:
    """Whether ``OPTIMIZE ZORDER`` can pay on the files a write just added.

    Args:
        partitions: per partition (any key) of the rewritten scope, ``(files, bytes)`` written.
        threshold_bytes: the size of one OPTIMIZE output file: a partition at or below it would be
            rewritten into a single file, which readers cannot skip within.

    Returns:
        The decision; ``run`` is true when at least one partition holds more than one file and more than the threshold.
    """
    files = sum(f for f, _ in partitions.values())
    size = sum(b for _, b in partitions.values())
    worth = sum(1 for f, b in partitions.values() if f > 1 and b > threshold_bytes)
    if worth:
        reason = f"{worth} partition(s) hold more than one file and more than {threshold_bytes} bytes"
    elif files <= len(partitions):
        reason = "every rewritten partition fits in one file"
    else:
        reason = f"every rewritten partition fits in one OPTIMIZE output file ({threshold_bytes} bytes)"
    return ZorderDecision(worth > 0, reason, files, size, len(partitions), worth, threshold_bytes)


def zorder_threshold(spark: SparkSession) -> int:
    """The size in bytes of one OPTIMIZE output file (``spark.databricks.delta.optimize.maxFileSize``;
    Delta's default, 1 GiB, when it is unset or not a number)."""
    value = spark.conf.get(_OPTIMIZE_MAX_FILE_SIZE, None)
    try:
        return int(value) if value is not None else _DEFAULT_OPTIMIZE_MAX_FILE_SIZE
    except ValueError:
        log.warning("%s=%r is not a number of bytes; using %d", _OPTIMIZE_MAX_FILE_SIZE, value,
                    _DEFAULT_OPTIMIZE_MAX_FILE_SIZE)
        return _DEFAULT_OPTIMIZE_MAX_FILE_SIZE


def files_per_partition(spark: SparkSession, path: str, version: int) -> dict[str, tuple[int, int]]:
    """``{partition: (files, bytes)}`` of the files commit ``version`` added, read from its log entry.

    The commit of an overwrite (whole table or ``replaceWhere``) adds exactly the files of the rewritten
    scope, so this is the scope OPTIMIZE would rewrite, read on the driver without a Spark job.
    """
    out: dict[str, tuple[int, int]] = {}
    for action in commit_actions(spark, path, version) or ():
        add = action.get("add")
        if add is not None:
            key = json.dumps(add.get("partitionValues") or {}, sort_keys=True)
            files, size = out.get(key, (0, 0))
            out[key] = (files + 1, size + int(add.get("size", 0)))
    return out
