"""Silver's input plan: which bronze versions one run consumes, and reading them.

Silver consumes bronze by table version: everything after the last version silver applied (the
``txnVersion`` of its own commit), up to bronze's latest; or, after a crash between the dead-letter
append and the MERGE, exactly the interrupted range again.

Example:
    >>> plan_range(7, applied=4, dead_lettered=4)
    BronzeRange(start=5, end=7, resumed=False)
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from medallion.columns import BRONZE_VERSION, CHANGE_TYPE, COMMIT_TIMESTAMP, COMMIT_VERSION
from medallion.delta_appends import read_appended
from medallion.delta_table import read_change_feed
from medallion.errors import RunError

__all__ = ["BronzeRange", "plan_range", "read_bronze_changes"]


@dataclass(frozen=True)
class BronzeRange:
    """The bronze versions ``start..end`` (inclusive) one silver run consumes."""

    start: int
    end: int
    resumed: bool = False  # an interrupted run already committed this range's dead letters

    @property
    def empty(self) -> bool:
        return self.end < self.start


def plan_range(latest: int, *, applied: int | None, dead_lettered: int | None) -> BronzeRange:
    """Which bronze versions to read, from the versions committed to silver and to the dead-letter table.

    Normally everything after the last version silver applied, up to bronze's latest. If the
    dead-letter table is ahead of silver, a run crashed between its two writes: redo exactly that
    range (its dead-letter append is already committed), and leave newer versions to the next run.

    Raises:
        RunError: silver or the dead-letter table consumed a version bronze does not have (bronze
            was re-created).
    """
    done = -1 if applied is None else applied
    lettered = -1 if dead_lettered is None else dead_lettered
    if max(done, lettered) > latest:
        raise RunError(
            f"silver has consumed bronze up to version {max(done, lettered)} but bronze is only at version "
            f"{latest}: bronze was re-created; rebuild silver and its dead-letter table"
        )
    if lettered > done:
        return BronzeRange(done + 1, lettered, resumed=True)
    return BronzeRange(done + 1, latest)


def read_bronze_changes(spark: SparkSession, path: str, start: int, end: int) -> DataFrame:
    """Rows appended to bronze in versions ``start..end``, with ``_bronze_version`` (their commit): the
    added files read directly when the range only appended (:func:`~medallion.delta_appends.read_appended`,
    the usual case), else bronze's change data feed."""
    appended = read_appended(spark, path, start, end)
    if appended is not None:
        return appended.withColumnRenamed(COMMIT_VERSION, BRONZE_VERSION)
    changes = read_change_feed(spark, path, start, end)
    inserted = changes.where(F.col(CHANGE_TYPE) == F.lit("insert"))
    return inserted.drop(CHANGE_TYPE, COMMIT_TIMESTAMP).withColumnRenamed(COMMIT_VERSION, BRONZE_VERSION)
