"""Hostile landing data (issue 11): never lose a value, never let one bad file stop the rest.

Every data test reads the bronze table back twice: with Spark, and with an Arrow-based Delta reader
(delta-rs, the ``deltalake`` package), which refuses tables Power BI, Polars or DuckDB would refuse.
"""
from __future__ import annotations

import gzip
import os
import threading
from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable as ArrowDeltaTable
from pyspark.sql import SparkSession

from medallion.audit.outcome import LayerOutcome, RunContext, Status
from medallion.bronze.layer import run_bronze
from medallion.bronze.source_names import SOURCE_NAME_KEY
from medallion.config import EnvConfig, PipelineConfig
from medallion.delta_table import latest_version
from medallion.errors import SourceError

pytestmark = pytest.mark.delta


def pipeline(fmt: str = "json", *, options: dict[str, str] | None = None, **bronze: object) -> PipelineConfig:
    source = {"format": fmt, "path": "orders", "source_system": "webshop", "options": options or {}}
    return PipelineConfig.model_validate({"dataset": "orders", "source": source, "bronze": {"table": "orders", **bronze}})


def land(env: EnvConfig, name: str, data: str | bytes) -> Path:
    path = Path(env.landing_root) / "orders" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def bronze(spark: SparkSession, env: EnvConfig, p: PipelineConfig, now: datetime, run_id: str = "run-1") -> LayerOutcome:
    return run_bronze(spark, env, p, RunContext(run_id, now))


def arrow_rows(env: EnvConfig, table: str = "bronze/orders") -> list[dict[str, object]]:
    """The table as delta-rs (Arrow) reads it: fails on anything an Arrow reader refuses."""
    return ArrowDeltaTable(f"{env.lakehouse_root}/{table}").to_pyarrow_table().to_pylist()


def spark_table(spark: SparkSession, env: EnvConfig):  # noqa: ANN201
    return spark.read.format("delta").load(env.table_path("bronze", "orders"))


def test_keys_differing_only_in_case_keep_both_values(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    land(env, "a.json", '{"id": "1", "Amount": "10"}\n{"id": "3", "Amount": "7", "amount": "8"}\n')
    land(env, "b.json", '{"id": "2", "amount": "5"}\n')
    first = bronze(spark, env, pipeline(), now)
    assert first.details["columns_renamed"] == {"amount": "amount__cf38d95c"}
    land(env, "c.json", '{"id": "4", "amount": "9"}\n')  # a later delivery lands in the same column
    bronze(spark, env, pipeline(), now, run_id="run-2")

    df = spark_table(spark, env)
    expected = spark.createDataFrame(
        [("1", "10", None), ("2", None, "5"), ("3", "7", "8"), ("4", None, "9")], "id STRING, Amount STRING, amount__cf38d95c STRING"
    )
    assert_df_equality(df.select("id", "Amount", "amount__cf38d95c"), expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
    assert df.schema["amount__cf38d95c"].metadata == {SOURCE_NAME_KEY: "amount"}
    arrow = sorted((r["id"], r["Amount"], r["amount__cf38d95c"]) for r in arrow_rows(env))
    assert arrow == [("1", "10", None), ("2", None, "5"), ("3", "7", "8"), ("4", None, "9")]


def test_source_keys_named_like_audit_columns_are_kept(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    land(env, "a.json", '{"id": "1", "_corrupt_record": "mine", "_run_id": "their-run"}\n')
    result = bronze(spark, env, pipeline(), now)
    assert (result.rows_out, result.rows_corrupt) == (1, 0)
    row = spark_table(spark, env).first().asDict()
    assert (row["_src__corrupt_record"], row["_src__run_id"], row["_corrupt_record"], row["_run_id"]) == (
        "mine", "their-run", None, "run-1",
    )
    (arrow,) = arrow_rows(env)
    assert (arrow["_src__corrupt_record"], arrow["_src__run_id"]) == ("mine", "their-run")


def test_csv_follows_rfc_4180_by_default(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    land(env, "a.csv", 'id,note\n1,"line one\nline two"\n2,"she said ""hi"""\n3,plain\n')
    result = bronze(spark, env, pipeline("csv", options={"header": "true"}), now)
    assert (result.rows_out, result.rows_corrupt) == (3, 0)
    expected = spark.createDataFrame(
        [("1", "line one\nline two", None), ("2", 'she said "hi"', None), ("3", "plain", None)],
        "id STRING, note STRING, _corrupt_record STRING",
    )
    actual = spark_table(spark, env).select("id", "note", "_corrupt_record")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
    assert sorted(r["note"] for r in arrow_rows(env)) == sorted(["line one\nline two", 'she said "hi"', "plain"])


def test_invalid_utf8_is_a_corrupt_record_with_its_exact_bytes(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    bad = b'{"id": "5", "note": "bad \xff\xfe byte"}'
    land(env, "a.json", bad + b'\n{"id": "6", "note": "ok \xc3\xa9"}\n')
    result = bronze(spark, env, pipeline(), now)
    assert (result.rows_out, result.rows_corrupt) == (2, 1)
    rows = {r["id"]: r for r in arrow_rows(env)}  # delta-rs refuses a table holding invalid UTF-8
    assert rows["6"]["note"] == "ok é" and rows["6"]["_corrupt_record"] is None
    corrupt = rows[None]
    assert corrupt["_corrupt_record"] == '{"id": "5", "note": "bad \ufffd\ufffd byte"}'
    assert corrupt["_corrupt_bytes"] == bad
    spark_row = spark_table(spark, env).where("_corrupt_record IS NOT NULL").first()
    assert bytes(spark_row["_corrupt_bytes"]) == bad


def test_names_delta_refuses_are_renamed_and_recorded(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    land(env, "a.csv", "order id,amount (eur),x=y\n1,2.5,z\n")
    result = bronze(spark, env, pipeline("csv", options={"header": "true"}), now)
    assert result.status is Status.SUCCEEDED
    assert result.details["columns_renamed"] == {"order id": "order_id", "amount (eur)": "amount__eur_", "x=y": "x_y"}
    land(env, "b.csv", "order id,amount (eur)\n2,3\n")
    bronze(spark, env, pipeline("csv", options={"header": "true"}), now, run_id="run-2")
    expected = spark.createDataFrame([("1", "2.5", "z"), ("2", "3", None)], "order_id STRING, amount__eur_ STRING, x_y STRING")
    df = spark_table(spark, env)
    assert_df_equality(df.select("order_id", "amount__eur_", "x_y"), expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
    assert df.schema["order_id"].metadata == {SOURCE_NAME_KEY: "order id"}
    assert sorted(r["order_id"] for r in arrow_rows(env)) == ["1", "2"]


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode())


def test_unreadable_file_is_quarantined_and_the_rest_ingested(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    land(env, "good.json.gz", _gz('{"id": "1"}\n'))
    broken = _gz("".join(f'{{"id": "{i}", "pad": "{"x" * 50}"}}\n' for i in range(2000)))
    bad = land(env, "bad.json.gz", broken[: len(broken) // 2])
    land(env, "plain.json", '{"id": "2"}\n')

    strict = pipeline(max_unreadable_files=0)
    with pytest.raises(SourceError, match="bad.json.gz"):
        bronze(spark, env, strict, now, run_id="run-0")
    # nothing committed (a failed first write may leave an empty _delta_log folder: no table, no rows)
    assert latest_version(spark, env.table_path("bronze", "orders")) == -1

    first = bronze(spark, env, pipeline(), now)
    assert (first.status, first.files_ingested, first.rows_out) == (Status.SUCCEEDED, 2, 2)
    (unreadable,) = first.details["files_unreadable"]
    assert unreadable["path"].endswith("bad.json.gz") and "EOFException" in unreadable["error"]
    log = spark.read.format("delta").load(env.files_path).where("status = 'unreadable'").collect()
    assert [(Path(r["path"]).name, r["size"]) for r in log] == [("bad.json.gz", bad.stat().st_size)]
    assert sorted(r["id"] for r in arrow_rows(env)) == ["1", "2"]

    again = bronze(spark, env, pipeline(), now, run_id="run-2")
    assert (again.status, again.files_skipped) == (Status.SKIPPED, 3), "a quarantined file is skipped until re-delivered"

    bad.write_bytes(_gz('{"id": "3"}\n'))  # re-delivered, readable now
    fixed = bronze(spark, env, pipeline(), now, run_id="run-3")
    assert (fixed.files_ingested, fixed.rows_out) == (1, 1)
    assert sorted(r["id"] for r in arrow_rows(env)) == ["1", "2", "3"]


def test_changed_redelivery_is_reported_and_ingested_only_on_request(
    spark: SparkSession, env: EnvConfig, now: datetime
) -> None:
    a = land(env, "a.json", '{"id": "1", "v": "old"}\n')
    bronze(spark, env, pipeline(), now)
    a.write_text('{"id": "1", "v": "new, longer"}\n')

    warned = bronze(spark, env, pipeline(), now, run_id="run-2")
    assert warned.status is Status.SKIPPED
    assert [Path(p).name for p in warned.details["files_redelivered"]] == ["a.json"]
    quiet = bronze(spark, env, pipeline(), now, run_id="run-3")
    assert "files_redelivered" not in quiet.details, "a re-delivery is reported once"

    a.write_text('{"id": "1", "v": "newest"}\n')
    os.utime(a, (1_900_000_000, 1_900_000_000))
    ingested = bronze(spark, env, pipeline(redeliveries="ingest"), now, run_id="run-4")
    assert (ingested.files_ingested, ingested.rows_out) == (1, 1)
    assert sorted(r["v"] for r in arrow_rows(env)) == ["newest", "old"]


def test_two_runs_started_together_both_end_well(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    for i in range(3):
        land(env, f"{i}.json", f'{{"id": "{i}"}}\n')
    outcomes: dict[str, LayerOutcome | BaseException] = {}
    start = threading.Barrier(2)

    def go(run_id: str) -> None:
        start.wait()
        try:
            outcomes[run_id] = bronze(spark, env, pipeline(), now, run_id=run_id)
        except BaseException as err:  # noqa: BLE001 - recorded and asserted below
            outcomes[run_id] = err

    threads = [threading.Thread(target=go, args=(r,)) for r in ("run-a", "run-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(o.status if isinstance(o, LayerOutcome) else repr(o) for o in outcomes.values())
    assert statuses in (["skipped", "succeeded"], ["succeeded", "succeeded"]), statuses
    assert sorted(r["id"] for r in arrow_rows(env)) == ["0", "1", "2"], "nothing lost, nothing doubled"
