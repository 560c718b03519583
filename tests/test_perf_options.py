"""Performance opt-ins: silver's ``deletion_vectors`` (real Delta: the property, the same MERGE result, no
unchanged rows copied)."""
from __future__ import annotations

from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from silver_helpers import append_bronze, bronze_frame, new_result, pipeline, read

from medallion.config import EnvConfig
from medallion.silver.layer import run_silver, table_properties

BATCH_1 = [
    ("1", "a@x.com", "10.00", "NEW", "2026-11-01T10:00:00Z"),
    ("2", "b@x.com", "20.00", "NEW", "2026-11-01T10:00:00Z"),
    ("3", "c@x.com", "30.00", "PAID", "2026-11-01T10:00:00Z"),
    ("4", "d@x.com", "40.00", "PAID", "2026-11-01T10:00:00Z"),
]
BATCH_2 = [
    ("2", "b@x.com", "21.00", "PAID", "2026-11-02T10:00:00Z"),  # update
    ("5", "e@x.com", "50.00", "NEW", "2026-11-02T10:00:00Z"),  # insert
    ("6", None, "-1.00", "NEW", "2026-11-02T10:00:00Z"),  # dead-lettered
]


def test_deletion_vectors_default_off_and_property_follows_the_opt_in() -> None:
    assert "delta.enableDeletionVectors" not in table_properties(pipeline().silver)  # type: ignore[arg-type]
    assert pipeline().silver.deletion_vectors is False  # type: ignore[union-attr]
    on = table_properties(pipeline(deletion_vectors=True).silver)  # type: ignore[arg-type]
    assert on == {"delta.enableChangeDataFeed": "true", "delta.enableDeletionVectors": "true"}


def _two_batches(spark, root: Path, now, **silver) -> tuple[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    env = EnvConfig(name="test", landing_root=str(root / "landing"), lakehouse_root=str(root / "lake"))
    p = pipeline(**silver)
    bronze_path = env.table_path("bronze", "orders")
    silver_path = env.table_path("silver", "orders")
    append_bronze(spark, bronze_path, bronze_frame(spark, BATCH_1, source_file="orders-1.json"))
    run_silver(spark, env, p, new_result("run-1", now))
    append_bronze(spark, bronze_path, bronze_frame(spark, BATCH_2, source_file="orders-2.json",
                                                   ingested_at="2026-11-26 11:00:00"))
    r2 = run_silver(spark, env, p, new_result("run-2", now))
    assert (r2.rows_in, r2.rows_out, r2.rows_quarantined) == (3, 2, 1)
    merge = (DeltaTable.forPath(spark, silver_path).history().where("operation = 'MERGE'")
             .orderBy("version", ascending=False).first())
    return silver_path, {k: int(v) for k, v in merge["operationMetrics"].items()}


def _properties(spark, path: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(DeltaTable.forPath(spark, path).detail().select("properties").first()[0] or {})


@pytest.mark.delta
def test_deletion_vectors_merge_gives_the_same_table_without_copying_rows(spark, tmp_path: Path, now) -> None:  # type: ignore[no-untyped-def]
    plain_path, plain = _two_batches(spark, tmp_path / "plain", now)
    dv_path, dv = _two_batches(spark, tmp_path / "dv", now, deletion_vectors=True)

    assert "delta.enableDeletionVectors" not in _properties(spark, plain_path)
    assert _properties(spark, dv_path)["delta.enableDeletionVectors"] == "true"
    assert_df_equality(read(spark, dv_path), read(spark, plain_path), ignore_row_order=True, ignore_nullable=True)
    # The default MERGE rewrites the touched file, copying its unchanged rows; with deletion vectors the
    # updated row is only marked deleted in its old file.
    assert plain["numTargetRowsCopied"] >= 1 and plain.get("numTargetDeletionVectorsAdded", 0) == 0
    assert dv["numTargetRowsCopied"] == 0 and dv["numTargetDeletionVectorsAdded"] == 1
    assert dv["numTargetRowsUpdated"] == plain["numTargetRowsUpdated"] == 1
    assert dv["numTargetRowsInserted"] == plain["numTargetRowsInserted"] == 1
    # The change feed silver hands to gold holds the same changes either way.
    def changes(path: str):  # type: ignore[no-untyped-def]
        return (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0).load(path)
                .where("_change_type != 'update_preimage'").select("order_id", "amount", "_change_type"))

    assert_df_equality(changes(dv_path), changes(plain_path), ignore_row_order=True, ignore_nullable=True)


@pytest.mark.delta
def test_deletion_vectors_opted_in_on_an_existing_table(spark, tmp_path: Path, now) -> None:  # type: ignore[no-untyped-def]
    env = EnvConfig(name="test", landing_root=str(tmp_path / "landing"), lakehouse_root=str(tmp_path / "lake"))
    bronze_path, silver_path = env.table_path("bronze", "orders"), env.table_path("silver", "orders")
    append_bronze(spark, bronze_path, bronze_frame(spark, BATCH_1, source_file="orders-1.json"))
    run_silver(spark, env, pipeline(), new_result("run-1", now))
    assert "delta.enableDeletionVectors" not in _properties(spark, silver_path)

    append_bronze(spark, bronze_path, bronze_frame(spark, BATCH_2, source_file="orders-2.json",
                                                   ingested_at="2026-11-26 11:00:00"))
    run_silver(spark, env, pipeline(deletion_vectors=True), new_result("run-2", now))

    assert _properties(spark, silver_path)["delta.enableDeletionVectors"] == "true"
    assert read(spark, silver_path).count() == 5
