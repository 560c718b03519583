"""Bronze: every record kept with audit columns, corrupt text preserved, each file exactly once."""
from __future__ import annotations

import json
import shutil
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from medallion.audit.outcome import LayerOutcome, RunContext
from medallion.bronze.layer import add_audit_columns, run_bronze
from medallion.bronze.listing import list_files
from medallion.config import EnvConfig, PipelineConfig

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "landing" / "orders"
EXPECTED = json.loads((ROOT / "data" / "landing" / "orders.expected.json").read_text())


def pipeline(fmt: str = "json", *, options: dict[str, str] | None = None, schema: str | None = None) -> PipelineConfig:
    source: dict[str, object] = {"format": fmt, "path": "orders", "source_system": "webshop", "options": options or {}}
    if schema:
        source["schema"] = schema
    return PipelineConfig.model_validate({"dataset": "orders", "source": source, "bronze": {"table": "orders"}})


def bronze(spark: SparkSession, env: EnvConfig, p: PipelineConfig, now: datetime, run_id: str = "run-1") -> LayerOutcome:
    return run_bronze(spark, env, p, RunContext(run_id, now))


def land(env: EnvConfig, name: str, text: str) -> Path:
    path = Path(env.landing_root) / "orders" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def table(spark: SparkSession, env: EnvConfig):  # noqa: ANN201
    return spark.read.format("delta").load(env.table_path("bronze", "orders"))


def version(spark: SparkSession, env: EnvConfig) -> int:
    return DeltaTable.forPath(spark, env.table_path("bronze", "orders")).history(1).first()["version"]


def test_audit_columns_are_added_deterministically(spark: SparkSession, now: datetime) -> None:
    raw = spark.createDataFrame(
        [("1", "a@x", None, "file:/l/f.json"), (None, None, "{broken", "file:/l/f.json")],
        "order_id STRING, email STRING, _corrupt_record STRING, _source_file STRING",
    )
    actual = raw.transform(add_audit_columns("webshop", "run-7", now))
    expected = spark.createDataFrame(
        [
            ("1", "a@x", None, "file:/l/f.json", "webshop", "run-7"),
            (None, None, "{broken", "file:/l/f.json", "webshop", "run-7"),
        ],
        "order_id STRING, email STRING, _corrupt_record STRING, _source_file STRING, _source_system STRING, _run_id STRING",
    ).select(
        "order_id", "email", "_corrupt_record",
        F.lit("2026-11-26 12:00:00").cast("timestamp").alias("_ingested_at"),
        "_source_file", "_source_system",
        F.lit("2026-11-26").cast("date").alias("_processing_date"),
        F.sha2(F.concat_ws("\u0000", F.concat(F.lit("_corrupt_record="), "_corrupt_record"),
                           F.concat(F.lit("email="), "email"), F.concat(F.lit("order_id="), "order_id")), 256).alias("_record_hash"),
        "_run_id",
    )
    assert_df_equality(actual, expected, ignore_nullable=True)


@pytest.mark.delta
def test_sample_data_lands_whole_and_once(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    shutil.copytree(SAMPLE, Path(env.landing_root) / "orders")
    totals = EXPECTED["totals"]

    first = bronze(spark, env, pipeline(), now)
    assert (first.files_ingested, first.rows_in, first.rows_out, first.rows_corrupt) == (
        totals["files"], totals["records"], totals["records"], totals["corrupt"],
    )
    per_file = {Path(r["_source_file"]).name: r["n"] for r in table(spark, env).groupBy("_source_file").agg(F.count("*").alias("n")).collect()}
    assert per_file == {f["name"]: f["records"] for f in EXPECTED["files"]}
    assert table(spark, env).where("_corrupt_record IS NOT NULL AND order_id IS NULL").count() == totals["corrupt"]

    before = version(spark, env)
    second = bronze(spark, env, pipeline(), now, run_id="run-2")
    assert second.status == "skipped" and second.files_skipped == totals["files"] and second.rows_in == 0
    assert version(spark, env) == before, "a rerun with no new files must not touch the table"


@pytest.mark.delta
def test_corrupt_empty_and_corrupt_only_files_are_normal(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    land(env, "a.json", '{"id": 1, "v": "x"}\nnot json at all\n{"id": 2,\n')
    land(env, "b.json", "")
    land(env, "c.json", "garbage\n\n{oops\n")
    land(env, "_SUCCESS", "")
    land(env, ".hidden.json", '{"id": 9}\n')

    result = bronze(spark, env, pipeline(), now)
    assert (result.files_ingested, result.rows_out, result.rows_corrupt) == (2, 5, 4)
    assert result.details["files_empty"] == 1
    corrupt = sorted(r[0] for r in table(spark, env).where("_corrupt_record IS NOT NULL").select("_corrupt_record").collect())
    assert corrupt == sorted(['{"id": 2,', "garbage", "not json at all", "{oops"])


def test_record_hash_ignores_column_order_and_columns_added_later(spark: SparkSession, now: datetime) -> None:
    one = spark.createDataFrame([("1", "x", None, "f")], "a STRING, b STRING, _corrupt_record STRING, _source_file STRING")
    reordered_and_wider = spark.createDataFrame(
        [(None, "x", "1", None, "g")], "c STRING, b STRING, a STRING, _corrupt_record STRING, _source_file STRING"
    )
    hashes = [df.transform(add_audit_columns("s", "r", now)).first()["_record_hash"] for df in (one, reordered_and_wider)]
    assert hashes[0] == hashes[1]


@pytest.mark.delta
def test_schema_drift_keeps_every_value_as_read(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    land(env, "1.json", '{"id": 1, "amount": 10, "tags": ["a"]}\n')
    bronze(spark, env, pipeline(), now)
    # next delivery: `amount` changes type, `tags` disappears, `coupon` (nested) appears
    land(env, "2.json", '{"id": "two", "amount": "12.50 EUR", "coupon": {"code": "X"}}\n')
    bronze(spark, env, pipeline(), now, run_id="run-2")

    actual = table(spark, env).select("id", "amount", "tags", "coupon")
    expected = spark.createDataFrame(
        [("1", "10", '["a"]', None), ("two", "12.50 EUR", None, '{"code":"X"}')],
        "id STRING, amount STRING, tags STRING, coupon STRING",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.delta
def test_csv_with_changing_headers_and_bad_rows(spark: SparkSession, env: EnvConfig, now: datetime) -> None:
    land(env, "1.csv", "id,amount\n1,10\n2,20,surplus\n")
    land(env, "2.csv", "id,amount,currency\n3,30,EUR\n")
    result = bronze(spark, env, pipeline("csv", options={"header": "true"}), now)
    assert (result.rows_out, result.rows_corrupt) == (3, 1)
    actual = table(spark, env).select("id", "amount", "currency", "_corrupt_record")
    expected = spark.createDataFrame(
        [("1", "10", None, None), ("2", "20", None, "2,20,surplus"), ("3", "30", "EUR", None)],
        "id STRING, amount STRING, currency STRING, _corrupt_record STRING",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.delta
def test_parquet_and_declared_schema(spark: SparkSession, env: EnvConfig, now: datetime, tmp_path: Path) -> None:
    src = Path(env.landing_root) / "orders"
    spark.createDataFrame([(1, 2.5)], "id INT, amount DOUBLE").write.parquet(str(src / "p1"))
    result = bronze(spark, env, pipeline("parquet"), now)
    assert result.rows_out == 1
    assert table(spark, env).select("id", "amount").collect()[0].asDict() == {"id": "1", "amount": "2.5"}

    env2 = EnvConfig(name="t2", landing_root=env.landing_root, lakehouse_root=str(tmp_path / "lake2"))
    shutil.rmtree(src)
    land(env2, "t.json", '{"id": 1, "amount": 2.5}\n{"id": "x", "amount": 1}\n')
    typed = bronze(spark, env2, pipeline(schema="id INT, amount DOUBLE"), now)
    assert typed.rows_corrupt == 1
    assert dict(table(spark, env2).dtypes)["id"] == "int"


@pytest.mark.delta
def test_list_files_skips_hidden_and_metadata(spark: SparkSession, env: EnvConfig) -> None:
    land(env, "a.json", "{}\n")
    land(env, "sub/b.json", "{}\n")
    land(env, "_delta_log/x.json", "{}\n")
    land(env, ".tmp/c.json", "{}\n")
    names = [Path(f.path).name for f in list_files(spark, str(Path(env.landing_root) / "orders"))]
    assert names == ["a.json", "b.json"]
    assert list_files(spark, str(Path(env.landing_root) / "missing")) == []


KILLER = textwrap.dedent(
    """
    # Runs bronze in its own JVM and SIGKILLs that JVM from inside the write job, once the first task
    # has written its data file: a real crash with orphan files in the table folder and no commit.
    import os, signal, sys, time
    from datetime import datetime, timezone
    from pyspark.sql import functions as F
    from medallion.bronze import layer as bronze
    from medallion.config import EnvConfig, PipelineConfig
    from medallion.audit.outcome import RunContext
    from medallion.session import get_spark

    lake, landing, marker = sys.argv[1:4]
    def kill_jvm_after_first_task(file):
        if file.endswith("f2.json"):
            time.sleep(3)  # let the other task write its data file first
            # python worker -> pyspark daemon -> JVM
            daemon = os.getppid()
            jvm = int(open(f"/proc/{daemon}/stat").read().split(")")[1].split()[1])
            open(marker, "w").write(str(jvm))
            os.kill(jvm, signal.SIGKILL)
        return file
    kill = F.udf(kill_jvm_after_first_task)
    original = bronze.add_audit_columns
    def with_crash(*args):
        inner = original(*args)
        return lambda df: inner(df).withColumn("_source_file", kill("_source_file"))
    bronze.add_audit_columns = with_crash
    spark = get_spark({"spark.master": "local[2]", "spark.sql.shuffle.partitions": "2"})
    env = EnvConfig(name="k", landing_root=landing, lakehouse_root=lake)
    p = PipelineConfig.model_validate({"dataset": "orders", "source": {"format": "json", "path": "orders",
        "source_system": "s"}, "bronze": {"table": "orders"}})
    bronze.run_bronze(spark, env, p, RunContext("crash", datetime.now(timezone.utc)))
    print("bronze finished: the crash did not happen")
    sys.exit(3)
    """
)


@pytest.mark.delta
@pytest.mark.e2e
def test_process_killed_mid_write_then_rerun_keeps_each_record_once(
    spark: SparkSession, env: EnvConfig, now: datetime, tmp_path: Path, jvm_subprocess  # noqa: ANN001
) -> None:
    land(env, "f1.json", "".join(f'{{"id": {i}}}\n' for i in range(100)))
    land(env, "f2.json", "".join(f'{{"id": {i}}}\n' for i in range(100, 150)))
    # a first, committed delivery so the crash hits an existing table
    land(env, "f0.json", '{"id": -1}\n')
    f1, f2 = (Path(env.landing_root) / "orders" / n for n in ("f1.json", "f2.json"))
    hold = tmp_path / "hold"
    hold.mkdir()
    shutil.move(f1, hold / f1.name)
    shutil.move(f2, hold / f2.name)
    bronze(spark, env, pipeline(), now, run_id="run-0")
    shutil.move(hold / f1.name, f1)
    shutil.move(hold / f2.name, f2)
    committed = version(spark, env)

    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    marker = tmp_path / "killed"
    proc = jvm_subprocess(script, env.lakehouse_root, env.landing_root, str(marker))
    assert marker.exists(), f"the JVM was not killed (rc={proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    assert proc.returncode != 0
    assert version(spark, env) == committed, "the killed run must not have committed"
    data_files = list(Path(env.table_path("bronze", "orders")).rglob("*.parquet"))
    assert data_files, "expected the crash to leave the table folder non-empty"

    rerun = bronze(spark, env, pipeline(), now, run_id="run-2")
    assert (rerun.files_ingested, rerun.rows_out, rerun.files_skipped) == (2, 150, 1)
    ids = table(spark, env).groupBy("id").count()
    assert ids.count() == 151 and ids.where("count > 1").count() == 0
