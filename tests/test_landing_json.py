"""JSON deliveries parsed with known keys (the table's and a sample's: one pass, nothing cached) give
exactly the rows key discovery gives, and a delivery of another shape falls back to key discovery,
losing nothing."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from medallion.audit.outcome import LayerOutcome, RunContext
from medallion.bronze.landing import read_files
from medallion.bronze.landing_json import SAMPLE_LINES
from medallion.bronze.layer import add_audit_columns, run_bronze
from medallion.columns import CORRUPT_BYTES, CORRUPT_RECORD, INGESTED_AT, PROCESSING_DATE, RUN_ID, SOURCE_FILE
from medallion.config import EnvConfig, PipelineConfig
from medallion.session import session_conf

pytestmark = pytest.mark.delta

REFUSED = "key discovery after a refused one pass"

SEED = '{"id": "0", "amount": "1", "note": "n", "nested": {"a": 1}}\n'  # the table learns every key first
HOSTILE = "\n".join([
    '{"id": "1", "amount": 10.50, "note": "plain"}',
    '{"id": "2", "amount": 1e5, "nested": {"a": [1, 2, {"b": null}]}, "note": "caf\\u00e9 \u2713"}',
    '{"id": "3", "amount": -0.0, "amount": 7}',  # a key twice: the last value counts
    '{"id": "4", "amount": 12345678901234567890, "note": true, "nested": null}',
    '{"id": "5", "note": "", "nested": []}',
    '{}',
    '\ufeff{"id": "6", "note": "byte order mark"}',
    '   {"id": "7", "note": "leading spaces"}   ',
    '{"id": "8", "note": "trailing garbage"} xyz',
    '{"id": "9", "amount": }',
    '{"id": "10", "note": "unterminated',
    '42',
    '"just a string"',
    'null',
    'true',
    'not json at all',
    '{"id": 11, "amount": "text", "note": {"deep": {"deeper": "x"}}}',
]) + "\n"


def pipeline() -> PipelineConfig:
    source = {"format": "json", "path": "orders", "source_system": "webshop"}
    return PipelineConfig.model_validate({"dataset": "orders", "source": source, "bronze": {"table": "orders"}})


def land(env: EnvConfig, name: str, data: str | bytes) -> None:
    path = Path(env.landing_root) / "orders" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def bronze(spark: SparkSession, env: EnvConfig, now: datetime, run_id: str) -> LayerOutcome:
    return run_bronze(spark, env, pipeline(), RunContext(run_id, now))


def rows_of(spark: SparkSession, env: EnvConfig, file: str) -> DataFrame:
    """One file's bronze rows, without the columns that differ from run to run."""
    table = spark.read.format("delta").load(env.table_path("bronze", "orders"))
    return (table.where(F.col(SOURCE_FILE).endswith(f"/{file}"))
            .drop(SOURCE_FILE, INGESTED_AT, RUN_ID, PROCESSING_DATE))


def versions(spark: SparkSession, env: EnvConfig) -> int:
    return DeltaTable.forPath(spark, env.table_path("bronze", "orders")).history().count()


def test_the_one_pass_parse_gives_the_rows_key_discovery_gives(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    land(env, "a.json", SEED + HOSTILE)
    source = pipeline().source
    paths = [str(Path(env.landing_root) / "orders" / "a.json")]
    audit = add_audit_columns("webshop", "run-1", now)
    with session_conf(spark, {"spark.sql.mapKeyDedupPolicy": "LAST_WIN"}):  # as bronze runs them
        one_pass = read_files(spark, source, paths)
        discovered = read_files(spark, source, paths, one_pass=False)
        assert one_pass.known_keys and not discovered.known_keys
        expected = discovered.frame.transform(audit)
        assert_df_equality(one_pass.frame.transform(audit), expected, ignore_row_order=True)
        assert expected.where("id = '3'").first()["amount"] == "7"  # a key twice: the last value counts
        # lines 9, 10, 42, "just a string", null, true, not json (Spark ignores text after an object)
        assert expected.where(F.col(CORRUPT_RECORD).isNotNull()).count() == 7
    discovered.release()


def test_a_later_delivery_with_the_tables_keys_takes_one_pass(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    land(env, "a.json", SEED + HOSTILE)
    first = bronze(spark, env, now, "run-1")
    land(env, "b.json", HOSTILE)
    second = bronze(spark, env, now, "run-2")
    assert (first.details["json_parse"], second.details["json_parse"]) == ("table keys", "table keys")
    lines = HOSTILE.count("\n")
    assert (second.rows_in, second.rows_out, second.rows_corrupt) == (lines, lines, 7)
    assert_df_equality(rows_of(spark, env, "b.json"), rows_of(spark, env, "a.json").where("id IS NULL OR id != '0'"),
                       ignore_row_order=True)


def test_a_key_past_the_sample_an_array_line_or_bad_bytes_fall_back_to_key_discovery_and_lose_nothing(
        spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    land(env, "a.json", SEED)
    bronze(spark, env, now, "run-1")
    before = versions(spark, env)

    regular = "".join(f'{{"id": "{i}", "amount": "3"}}\n' for i in range(100, 100 + 2 * SAMPLE_LINES))
    land(env, "b.json", regular + '{"id": "21", "coupon": "ONLY-HERE"}\n')
    new_key = bronze(spark, env, now, "run-2")
    assert new_key.details["json_parse"] == REFUSED and new_key.rows_out == 2 * SAMPLE_LINES + 1
    assert versions(spark, env) == before + 1  # the stopped one-pass write committed nothing
    assert [r["coupon"] for r in rows_of(spark, env, "b.json").where("id = '21'").collect()] == ["ONLY-HERE"]

    land(env, "b2.json", '{"id": "22", "voucher": "IN-THE-SAMPLE"}\n')  # a new key the sample sees
    sampled = bronze(spark, env, now, "run-2b")
    assert sampled.details["json_parse"] == "table keys"
    assert rows_of(spark, env, "b2.json").first()["voucher"] == "IN-THE-SAMPLE"

    land(env, "c.json", '{"id": "32"}\n[{"id": "30"}, {"id": "31", "note": "in an array"}]\n')
    array = bronze(spark, env, now, "run-3")
    assert array.details["json_parse"] == REFUSED
    assert sorted(r["id"] for r in rows_of(spark, env, "c.json").collect()) == ["30", "31", "32"]

    bad = b'{"id": "40", "note": "caf\xe9 in latin-1"}\n{"id": "41"}\n'
    land(env, "d.json", bad)
    bad_bytes = bronze(spark, env, now, "run-4")
    assert bad_bytes.details["json_parse"] == REFUSED and bad_bytes.rows_corrupt == 1
    # the table has _corrupt_bytes now: the same bytes again take the one pass and keep them as well
    land(env, "e.json", bad)
    again = bronze(spark, env, now, "run-5")
    assert again.details["json_parse"] == "table keys" and again.rows_corrupt == 1
    assert_df_equality(rows_of(spark, env, "e.json"), rows_of(spark, env, "d.json"), ignore_row_order=True)
    kept = rows_of(spark, env, "e.json").where(F.col(CORRUPT_RECORD).isNotNull()).first()
    assert kept is not None and bytes(kept[CORRUPT_BYTES]) == bad.splitlines()[0]


def test_multiline_json_files_go_straight_to_key_discovery(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    """A multiLine file is mostly one JSON array, which the one pass would refuse at every run."""
    multi = PipelineConfig.model_validate({
        "dataset": "orders", "bronze": {"table": "orders"},
        "source": {"format": "json", "path": "orders", "source_system": "webshop", "options": {"multiLine": "true"}}})
    land(env, "a.json", '[\n  {"id": "1", "amount": "2"},\n  {"id": "2"}\n]\n')
    land(env, "b.json", '{\n  "id": "3",\n  "amount": "4"\n}\n')
    first = run_bronze(spark, env, multi, RunContext("run-1", now))
    land(env, "c.json", '[{"id": "5"}]')
    second = run_bronze(spark, env, multi, RunContext("run-2", now))
    assert (first.details["json_parse"], second.details["json_parse"]) == ("key discovery", "key discovery")
    assert (first.rows_out, second.rows_out, first.rows_corrupt + second.rows_corrupt) == (3, 1, 0)
    table = spark.read.format("delta").load(env.table_path("bronze", "orders"))
    assert sorted(r["id"] for r in table.collect()) == ["1", "2", "3", "5"]


def test_a_json_parser_option_takes_key_discovery(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    """With allowSingleQuotes, a line the strict key check cannot read may still hold a new key."""
    relaxed = PipelineConfig.model_validate({
        "dataset": "orders", "bronze": {"table": "orders"},
        "source": {"format": "json", "path": "orders", "source_system": "webshop",
                   "options": {"allowSingleQuotes": "true"}}})
    land(env, "a.json", '{"id": "1"}\n')
    run_bronze(spark, env, relaxed, RunContext("run-1", now))
    land(env, "b.json", '{"id": "2"}\n' * SAMPLE_LINES + "{'id': '3', 'coupon': 'SINGLE-QUOTED'}\n")
    second = run_bronze(spark, env, relaxed, RunContext("run-2", now))
    assert second.details["json_parse"] == "key discovery" and second.rows_corrupt == 0
    assert rows_of(spark, env, "b.json").where("id = '3'").first()["coupon"] == "SINGLE-QUOTED"
