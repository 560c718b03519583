"""Gold's plan: what the last build recorded, and what this run must rebuild (nothing, some
partitions, or the whole table), as a typed :class:`GoldBuild`.

A build records in its commit the versions of the tables it read and a fingerprint of its definition
(:data:`META_KEY`). The next run compares: nothing moved, skip; only the pipeline's own silver moved,
rebuild the partitions its change feed touched; anything else, rebuild in full.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from medallion.columns import CHANGE_FEED
from medallion.config.base import fingerprint as definition_fingerprint
from medallion.config.gold import GoldTable
from medallion.delta_table import history_metadata, read_change_feed
from medallion.gold.zorder import ZorderDecision
from medallion.sql import quote_identifier

__all__ = ["META_KEY", "CDF_UNAVAILABLE", "BuildState", "GoldBuild", "last_build", "fingerprint", "input_change",
           "touched_partitions", "derive_and_filter"]

log = logging.getLogger(__name__)

#: The key of a gold build's record in its commit's ``userMetadata``.
META_KEY = "medallion_gold"
# Errors that mean "the change feed cannot answer": not enabled for the range, versions vacuumed, ...
CDF_UNAVAILABLE = (AnalysisException, CapturedException, Py4JJavaError)

Mode = Literal["full", "partitions", "skipped"]


@dataclass
class GoldBuild:
    """One gold table's build in this run: how (``mode``) and why, what it wrote, and its Z-order.

    Filled in as the build goes; :meth:`details` is its entry in the run log's ``details["tables"]``.
    """

    mode: Mode = "full"
    reason: str = ""
    rows_out: int = 0
    version: int | None = None
    silver_version: int | None = None
    previous_silver_version: int | None = None
    inputs: dict[str, int] = field(default_factory=dict)
    replaced_partitions: list[dict[str, Any]] = field(default_factory=list)
    partitions_replaced: int = 0
    optimized: bool = False
    # set only by the steps that ran (absent from the run log otherwise)
    checks: dict[str, bool] | None = None
    files_added: int | None = None
    files_removed: int | None = None
    zorder: ZorderDecision | None = None
    zorder_by: list[str] | None = None
    optimize: dict[str, Any] | None = None

    @property
    def skipped(self) -> bool:
        return self.mode == "skipped"

    def details(self) -> dict[str, Any]:
        """The run log's record of this build (steps that did not run are left out)."""
        always = {"mode", "reason", "rows_out", "version", "silver_version", "previous_silver_version", "inputs",
                  "replaced_partitions", "partitions_replaced", "optimized"}
        return {k: v for k, v in asdict(self).items() if k in always or v is not None}


@dataclass(frozen=True)
class BuildState:
    """What the last medallion build of a gold table recorded in its commit."""

    version: int
    silver_version: int
    fingerprint: str
    inputs: Mapping[str, int]  # ``layer/table`` -> the version read


def fingerprint(gold: GoldTable) -> str:
    """The gold definition's fingerprint: zorder_by changes the layout, and checks judge the data, so
    neither forces a rebuild."""
    return definition_fingerprint(gold.model_dump(mode="json", exclude={"zorder_by", "checks"}))


def last_build(spark: SparkSession, path: str) -> BuildState | None:
    """The newest build medallion recorded in the gold table's history, or None."""
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    for version, meta in history_metadata(spark, path):
        if META_KEY not in meta:
            continue
        try:
            build = meta[META_KEY]
            inputs = {str(k): int(v) for k, v in build.get("inputs", {}).items()}
            return BuildState(version, int(build["silver_version"]), str(build["fingerprint"]), inputs)
        except (ValueError, KeyError, TypeError):
            log.warning("gold table %s: unreadable build metadata at version %s", path, version)
            return None
    return None


def input_change(state: BuildState, versions: Mapping[str, int], own: str) -> tuple[str, str]:
    """How the recorded inputs compare with the current ones: ``(mode, reason)``; mode ``full``,
    ``skipped`` or ``own`` (only this pipeline's silver moved: its change feed can scope the rebuild)."""
    recorded = dict(state.inputs) or {own: state.silver_version}
    if set(recorded) != set(versions):
        return "full", f"inputs changed ({sorted(recorded)} -> {sorted(versions)})"
    back = sorted(k for k in versions if versions[k] < recorded[k])
    if back:
        return "full", f"version of {back[0]} went back ({recorded[back[0]]} -> {versions[back[0]]})"
    moved = sorted(k for k in versions if versions[k] > recorded[k])
    if not moved:
        return "skipped", "inputs unchanged"
    if moved == [own]:
        return "own", "silver changed"
    return "full", f"{', '.join(m for m in moved if m != own)} changed"


def derive_and_filter(gold: GoldTable) -> Callable[[DataFrame], DataFrame]:
    """``derive`` then ``filter`` of a declarative entry (the rows its groups are made of)."""
    def transform(df: DataFrame) -> DataFrame:
        if gold.derive:
            df = df.withColumns({name: F.expr(expr) for name, expr in gold.derive.items()})
        if gold.filter:
            df = df.filter(F.expr(gold.filter))
        return df

    return transform


def touched_partitions(
    spark: SparkSession, gold: GoldTable, silver_path: str, start: int, end: int
) -> list[tuple[Any, ...]] | None:
    """Partition values touched by silver changes in versions ``start..end``.

    Returns ``[]`` when nothing relevant changed, ``None`` when the table must be rebuilt in full
    (it has changes and is not partitioned, or its partitions cannot be traced back to silver rows).
    """
    changes = read_change_feed(spark, silver_path, start, end)
    # Pre- and post-images alike: a row that moved partitions touches both.
    changes = changes.drop(*[c for c in CHANGE_FEED if c in changes.columns])
    if gold.sql is None:
        changes = changes.transform(derive_and_filter(gold))
    elif gold.partition_by and not set(gold.partition_by) <= set(changes.columns):
        # A sql table's partition values can only be traced to silver rows that carry them.
        return None if changes.limit(1).count() else []
    if not gold.partition_by:
        return None if changes.limit(1).count() else []
    rows = changes.select(*[F.col(quote_identifier(c)) for c in gold.partition_by]).distinct().collect()
    return [tuple(r) for r in rows]
