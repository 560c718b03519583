"""The one rule from source key to bronze column name (pure, no Spark)."""
from __future__ import annotations

from medallion.bronze.file_log import FileEntry, FileStatus
from medallion.bronze.layer import plan_files
from medallion.bronze.listing import LandingFile
from medallion.bronze.source_names import assign_names
from medallion.columns import BRONZE_AUDIT


def test_names_are_deterministic_and_stable_across_deliveries() -> None:
    first = assign_names(["amount", "Amount", "order id", "order_id", "_run_id", "x=y"], {}, taken=BRONZE_AUDIT)
    assert first == {
        "Amount": "Amount",
        "amount": "amount__cf38d95c",
        "order_id": "order_id",  # a name that needs no change claims it first
        "order id": "order_id__ae40deab",
        "_run_id": "_src__run_id",
        "x=y": "x_y",
    }
    # the next delivery: the table's recorded source names send each key to its column again
    existing = {col: key for key, col in first.items()}
    assert assign_names(["amount"], existing, taken=BRONZE_AUDIT) == {"amount": "amount__cf38d95c"}
    # a key whose clean name is held (ignoring case) by a column of another key gets the hash suffix
    assert assign_names(["AMOUNT"], existing, taken=BRONZE_AUDIT)["AMOUNT"].startswith("AMOUNT__")


def test_plan_skips_unchanged_reads_new_and_reports_changed_redeliveries() -> None:
    known = {
        "file:/l/a.json": FileEntry("file:/l/a.json", 10, 1, FileStatus.INGESTED),
        "file:/l/b.json": FileEntry("file:/l/b.json", 10, 1, FileStatus.INGESTED),
        "file:/l/c.json.gz": FileEntry("file:/l/c.json.gz", 7, 1, FileStatus.UNREADABLE),
        "file:/l/d.json": FileEntry("file:/l/d.json", 0, 1, FileStatus.EMPTY),
    }
    files = [
        LandingFile("file:/l/a.json", 10, 1),  # unchanged: skipped
        LandingFile("file:/l/b.json", 12, 2),  # changed re-delivery
        LandingFile("file:/l/c.json.gz", 9, 2),  # unreadable, re-delivered: read again
        LandingFile("file:/l/d.json", 5, 2),  # was empty, now has content: read
        LandingFile("file:/l/e.json", 3, 2),  # new
    ]
    plan = plan_files(files, known, ingest_redeliveries=False)
    assert [f.path for f in plan.to_read] == ["file:/l/c.json.gz", "file:/l/d.json", "file:/l/e.json"]
    assert [f.path for f in plan.redelivered] == ["file:/l/b.json"] and plan.skipped == 1
    opted_in = plan_files(files, known, ingest_redeliveries=True)
    assert "file:/l/b.json" in [f.path for f in opted_in.to_read]
