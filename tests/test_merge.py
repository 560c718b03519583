"""The newest-wins MERGE model: pure ranking / retry tests and one Delta test of MERGE semantics."""
from __future__ import annotations

import pytest
from chispa import assert_df_equality
from delta.exceptions import ConcurrentAppendException, ConcurrentTransactionException

from medallion.delta_table import CommitTag, committed_txn_version, with_retry
from medallion.errors import RunError
from medallion.silver.merge import MergeSpec, merge_into, rank_versions

SPEC = MergeSpec(keys=("k",), sequence_by="seq", columns=("k", "seq", "v", "h"), change_column="h", tiebreak=("bv", "h"))


def test_spec_checks_its_columns():
    with pytest.raises(ValueError, match="seq"):
        MergeSpec(keys=("k",), sequence_by="seq", columns=("k",))
    with pytest.raises(ValueError, match="key"):
        MergeSpec(keys=(), sequence_by="seq", columns=("seq",))


def test_rank_keeps_newest_per_key_with_deterministic_ties(spark):
    df = spark.createDataFrame(
        [
            (1, 5, "old", "a", 1),
            (1, 7, "new", "b", 1),
            (2, 3, "v1", "a", 1),   # equal sequence: the later bronze version wins
            (2, 3, "v2", "b", 2),
            (3, 4, "lo", "a", 2),   # equal sequence and version: the record hash decides
            (3, 4, "hi", "z", 2),
            (4, None, "null", "a", 9),  # a null sequence is the oldest
            (4, 1, "one", "a", 1),
        ],
        "k BIGINT, seq INT, v STRING, h STRING, bv BIGINT",
    )
    newest = df.transform(rank_versions(SPEC)).where("_rank = 1").select("k", "v")
    expected = spark.createDataFrame([(1, "new"), (2, "v2"), (3, "hi"), (4, "one")], "k BIGINT, v STRING")
    assert_df_equality(newest, expected, ignore_row_order=True, ignore_nullable=True)


def _conflict(cls):
    return cls("simulated conflict", "stack")


def test_retry_only_on_concurrency_conflicts_and_bounded(spark):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise _conflict(ConcurrentAppendException)

    with_retry(flaky, "merge", max_attempts=3, wait_seconds=0)
    assert len(calls) == 3

    calls.clear()

    def always():
        calls.append(1)
        raise _conflict(ConcurrentAppendException)

    with pytest.raises(RunError, match="after 2 attempts"):
        with_retry(always, "merge", max_attempts=2, wait_seconds=0)
    assert len(calls) == 2

    calls.clear()

    def same_txn():
        calls.append(1)
        raise _conflict(ConcurrentTransactionException)

    with pytest.raises(RunError, match="same transaction"):
        with_retry(same_txn, "merge", max_attempts=3, wait_seconds=0)

    def broken():
        calls.append(1)
        raise ValueError("not a conflict")

    calls.clear()
    with pytest.raises(ValueError):
        with_retry(broken, "merge", max_attempts=3, wait_seconds=0)
    assert len(calls) == 1


@pytest.mark.delta
def test_merge_newest_or_equal_wins_stale_never_overwrites(spark, tmp_path):
    path = str(tmp_path / "t")
    ddl = "k BIGINT, seq INT, v STRING, h STRING"
    first = spark.createDataFrame([(1, 10, "a1", "h1a"), (2, 10, "a2", "h2a"), (3, 10, "a3", "h3a")], ddl)
    m1 = merge_into(spark, path, first, SPEC, app_id="test", txn_version=1, tag=CommitTag("r1", "silver"),
                    properties={"delta.enableChangeDataFeed": "true"})
    assert (m1.source_rows, m1.inserted, m1.updated, m1.unapplied) == (3, 3, 0, 0)
    assert committed_txn_version(spark, path, "test") == 1
    props = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").head()["properties"]
    assert props.get("delta.enableChangeDataFeed") == "true"

    spec2 = MergeSpec(keys=("k",), sequence_by="seq", columns=("k", "seq", "v", "h", "note"), change_column="h")
    second = spark.createDataFrame(
        [
            (1, 11, "b1", "h1b", "newer"),   # newer -> update
            (2, 9, "late", "h2x", "stale"),  # stale late version -> never overwrites
            (3, 10, "b3", "h3b", "equal"),   # equal sequence, new content -> update
            (4, 1, "b4", "h4", "new"),       # new key -> insert
        ],
        ddl + ", note STRING",
    )
    m2 = merge_into(spark, path, second, spec2, app_id="test", txn_version=2, tag=CommitTag("r2", "silver"))
    assert (m2.source_rows, m2.inserted, m2.updated, m2.unapplied) == (4, 1, 2, 1)
    assert m2.version == m1.version + 1

    # the identical record again (equal sequence, same hash) changes nothing
    third = spark.createDataFrame([(1, 11, "b1", "h1b", "newer")], ddl + ", note STRING")
    m3 = merge_into(spark, path, third, spec2, app_id="test", txn_version=3, tag=CommitTag("r3", "silver"))
    assert (m3.inserted, m3.updated, m3.unapplied) == (0, 0, 1)

    # the same transaction twice is dropped by Delta and reported
    with pytest.raises(RunError, match="already applied"):
        merge_into(spark, path, second, spec2, app_id="test", txn_version=3, tag=CommitTag("r4", "silver"))

    actual = spark.read.format("delta").load(path)
    expected = spark.createDataFrame(
        [(1, 11, "b1", "h1b", "newer"), (2, 10, "a2", "h2a", None), (3, 10, "b3", "h3b", "equal"),
         (4, 1, "b4", "h4", "new")],
        ddl + ", note STRING",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
