"""Silver history (history: scd2) on real Spark + Delta, against an independent pure-Python model."""
from __future__ import annotations

import random

import pytest
from chispa import assert_df_equality

from medallion.audit.outcome import RunContext
from medallion.silver.layer import run_silver
from medallion.silver.scd2 import HistorySpec, classify_events
from tests.history_helpers import HISTORY_DDL, bronze_frame, customers, expected_history
from tests.silver_helpers import append_bronze, read

HISTORY_COLUMNS = [c.split()[0] for c in HISTORY_DDL.split(", ")]

# (customer_id, email, segment, op, updated_at): one (key, updated_at) each
EVENTS = [
    ("1", "a@x.com", "gold", "I", "2026-11-01 01:00:00"),
    ("1", " A@x.com", "GOLD", "U", "2026-11-01 02:00:00"),   # equal after cleansing: no new row
    ("1", "a@x.com", "silver", "U", "2026-11-01 03:00:00"),
    ("1", "a@x.com", "silver", "D", "2026-11-01 04:00:00"),  # closes the interval
    ("1", "b@x.com", "gold", "I", "2026-11-01 05:00:00"),    # back after the delete
    ("1", "b@x.com", "gold", "U", "2026-11-01 06:00:00"),    # only op differs (ignored): no row
    ("2", "c@x.com", "bronze", "I", "2026-11-01 01:00:00"),
    ("2", "c@x.com", "silver", "U", "2026-11-01 02:00:00"),
    ("2", "c@x.com", "silver", "D", "2026-11-01 03:00:00"),
    ("3", "d@x.com", "gold", "I", "2026-11-01 01:00:00"),
    ("3", "d@x.com", "silver", "U", "2026-11-01 02:00:00"),
    ("3", "d@x.com", "gold", "U", "2026-11-01 03:00:00"),    # back to gold: a change, a row
    ("4", "e@x.com", "gold", "D", "2026-11-01 02:00:00"),    # a delete before any version
    ("4", "e@x.com", "gold", "I", "2026-11-01 01:00:00"),
    (None, "bad@x.com", "gold", "I", "2026-11-01 01:00:00"),  # quarantined
]


def _files(order: list[tuple], size: int = 8) -> list[list[tuple]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


def _run_all(spark, env, p, files, now, tag):
    bronze_path = env.table_path("bronze", "customers")
    outcomes = []
    for i, records in enumerate(files):
        append_bronze(spark, bronze_path, bronze_frame(spark, records, source_file=f"c-{i}.json"))
        outcomes.append(run_silver(spark, env, p, RunContext(f"{tag}-{i}", now)))
    return outcomes


def _history(spark, env):
    return read(spark, env.table_path("silver", "customers")).select(*HISTORY_COLUMNS)


def test_classify_events_is_a_pure_transform(spark):
    spec = HistorySpec(("k",), "s", ("k", "s", "v"), ("v",), tiebreak=("b",))
    events = spark.createDataFrame(
        [(1, 1, "x", False, 1), (1, 2, "x", False, 1), (1, 3, "y", False, 2), (1, 4, None, True, 2), (1, 5, None, True, 3)],
        "k INT, s INT, v STRING, _is_delete BOOLEAN, b INT",
    )
    roles = {r["s"]: r["_role"] for r in events.transform(classify_events(spec)).collect()}
    assert roles == {1: "start", 2: "superseded", 3: "start", 4: "close", 5: "superseded"}


@pytest.mark.delta
@pytest.mark.parametrize("arrival", ["in_order", "reversed", "shuffled"])
def test_history_equals_an_independent_model_whatever_the_arrival_order(spark, env, now, arrival):
    p = customers()
    ordered = sorted(EVENTS, key=lambda e: e[4])
    order = {"in_order": ordered, "reversed": ordered[::-1], "shuffled": random.Random(13).sample(EVENTS, len(EVENTS))}[arrival]
    outcomes = _run_all(spark, env, p, _files(order), now, arrival)

    expected = spark.createDataFrame(expected_history(EVENTS), HISTORY_DDL)
    assert_df_equality(_history(spark, env), expected, ignore_row_order=True, ignore_nullable=True)
    for o in outcomes:  # every row accounted for, in every run
        assert o.rows_in == o.rows_out + o.rows_deleted + o.rows_quarantined + o.rows_superseded
    assert sum(o.rows_quarantined for o in outcomes) == 1
    if arrival == "in_order":  # each event's fate is known: 9 versions start a row, 3 deletes close one
        assert (sum(o.rows_out for o in outcomes), sum(o.rows_deleted for o in outcomes)) == (9, 3)

    # nothing new: skipped, no new version of the history table
    before = spark.sql(f"DESCRIBE HISTORY delta.`{env.table_path('silver', 'customers')}`").count()
    again = run_silver(spark, env, p, RunContext(f"{arrival}-again", now))
    assert again.status == "skipped"
    assert spark.sql(f"DESCRIBE HISTORY delta.`{env.table_path('silver', 'customers')}`").count() == before


class Crash(Exception):
    pass


def _crash_at(step):
    def hook(name):
        if name == step:
            raise Crash(name)

    return hook


@pytest.mark.delta
def test_crash_between_the_events_append_and_the_merge_then_rerun_equals_a_clean_run(spark, env, now):
    p = customers()
    ordered = sorted(EVENTS, key=lambda e: e[4])
    first, late = ordered[8:], ordered[:8]  # the older half arrives second
    bronze_path = env.table_path("bronze", "customers")
    append_bronze(spark, bronze_path, bronze_frame(spark, first, source_file="c-0.json"))
    run_silver(spark, env, p, RunContext("run-1", now))
    append_bronze(spark, bronze_path, bronze_frame(spark, late, source_file="c-1.json"))
    with pytest.raises(Crash):
        run_silver(spark, env, p, RunContext("run-2", now), on_step=_crash_at("recorded"))
    resumed = run_silver(spark, env, p, RunContext("run-3", now))
    assert resumed.details.get("resumed") is True
    assert resumed.rows_in == resumed.rows_out + resumed.rows_deleted + resumed.rows_quarantined + resumed.rows_superseded

    expected = spark.createDataFrame(expected_history(EVENTS), HISTORY_DDL)
    assert_df_equality(_history(spark, env), expected, ignore_row_order=True, ignore_nullable=True)
    events = read(spark, env.table_path("silver", "customers_events"))
    assert events.count() == len(EVENTS) - 1  # the rerun's events append was dropped, not repeated


@pytest.mark.delta
def test_track_columns_decide_what_is_a_new_version(spark, env, now):
    p = customers(ignore_columns=[], track_columns=["segment"])
    append_bronze(spark, env.table_path("bronze", "customers"), bronze_frame(spark, [
        ("7", "a@x.com", "gold", "I", "2026-11-01 01:00:00"),
        ("7", "new@x.com", "gold", "U", "2026-11-01 02:00:00"),  # email is not tracked
        ("7", "new@x.com", "silver", "U", "2026-11-01 03:00:00"),
    ]))
    out = run_silver(spark, env, p, RunContext("run-1", now))
    assert (out.rows_out, out.rows_superseded) == (2, 1)
    rows = sorted((r.segment, r._is_current) for r in _history(spark, env).collect())
    assert rows == [("GOLD", False), ("SILVER", True)]
