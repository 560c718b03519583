"""Configuration: every malformed file exits 2 naming the file and the key, schema checks before any JVM."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from medallion.cli import main
from medallion.config import load_env, load_pipeline
from medallion.config.schemas import json_schemas
from medallion.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PIPELINE = (ROOT / "conf/pipelines/orders.yaml").read_text()


def write_conf(tmp_path: Path, pipeline: str = SAMPLE_PIPELINE, env: str | None = None) -> Path:
    conf = tmp_path / "conf"
    (conf / "env").mkdir(parents=True, exist_ok=True)
    (conf / "pipelines").mkdir(exist_ok=True)
    (conf / "env" / "test.yaml").write_text(
        env or f"name: test\nlanding_root: {tmp_path}/landing\nlakehouse_root: {tmp_path}/lake\n"
    )
    (conf / "pipelines" / "p.yaml").write_text(pipeline)
    return conf


def validate(conf: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["validate", "--pipeline", str(conf / "pipelines/p.yaml"), "--env", "test", "--conf-dir", str(conf)])
    return rc, capsys.readouterr().err


def test_sample_configuration_loads() -> None:
    env = load_env(ROOT / "conf/env/local.yaml")
    pipeline = load_pipeline(ROOT / "conf/pipelines/orders.yaml")
    assert env.spark == {"spark.sql.shuffle.partitions": "4"}
    assert env.table_path("silver", pipeline.silver.dlq).endswith(".lakehouse/silver/orders_dlq")
    assert [g.table for g in pipeline.gold] == ["daily_revenue"]


# (what to change in the sample pipeline, the key the error must name, words it must contain)
SCHEMA_ERRORS = [
    pytest.param("source:\n", "source:\n  colour: red\n", "source.colour", "unknown key", id="unknown-key"),
    pytest.param("action: warn", "action: explode", "silver.expectations.2.action", "'warn', 'drop' or 'fail'", id="bad-action"),
    pytest.param("format: json ", "format: xml ", "source.format", "'json', 'csv' or 'parquet'", id="unknown-format"),
    pytest.param("table: orders   ", "table: ../orders ", "bronze.table", "not a valid name", id="unsafe-table-name"),
    pytest.param("table: orders   ", "table: \"o; drop\" ", "bronze.table", "not a valid name", id="semicolon-table-name"),
    pytest.param("keys: [order_id]", "keys: [order_key]", "silver", "keys ['order_key'] are not among the output columns", id="key-not-output"),
    pytest.param("sequence_by: updated_at", "sequence_by: ts", "silver", "sequence_by 'ts'", id="sequence-not-output"),
    pytest.param("    status: upper", "    _run_id: upper", "silver", "reserved for medallion's audit columns", id="reserved-column"),
    pytest.param("dlq_table: orders_dlq", "dlq_table: orders", "silver", "dlq_table must differ", id="dlq-same-as-table"),
]


@pytest.mark.parametrize(("old", "new", "key", "words"), SCHEMA_ERRORS)
def test_schema_errors_exit_2_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, key: str, words: str
) -> None:
    assert old in SAMPLE_PIPELINE
    conf = write_conf(tmp_path, SAMPLE_PIPELINE.replace(old, new, 1))
    rc, err = validate(conf, capsys)
    assert rc == 2
    assert "p.yaml" in err and key in err and words in err


def test_missing_environment_variable_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDALLION_TEST_ACCOUNT", raising=False)
    env = "name: test\nlanding_root: abfss://raw@${MEDALLION_TEST_ACCOUNT}.dfs.core.windows.net/x\nlakehouse_root: /tmp/l\n"
    rc, err = validate(write_conf(tmp_path, env=env), capsys)
    assert rc == 2
    assert "test.yaml" in err and "landing_root" in err and "${MEDALLION_TEST_ACCOUNT} is not set" in err


def test_environment_variables_expand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDALLION_TEST_ACCOUNT", "contoso")
    conf = write_conf(tmp_path, env="name: t\nlanding_root: abfss://raw@${MEDALLION_TEST_ACCOUNT}.dfs.core.windows.net/x\nlakehouse_root: /l\n")
    env = load_env(conf / "env/test.yaml")
    assert env.landing_root == "abfss://raw@contoso.dfs.core.windows.net/x"
    assert env.table_path("gold", "t") == "/l/gold/t"


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, SAMPLE_PIPELINE.replace("dataset: orders", "dataset: orders\ndataset: other"))
    with pytest.raises(ConfigError, match="duplicate key 'dataset'"):
        load_pipeline(conf / "pipelines/p.yaml")


def test_unknown_environment_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write_conf(tmp_path)
    rc = main(["validate", "--pipeline", str(conf / "pipelines/p.yaml"), "--env", "nope", "--conf-dir", str(conf)])
    assert rc == 2
    assert "environment 'nope' not found" in capsys.readouterr().err


def test_secret_values_never_echoed(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDALLION_TEST_SECRET", "s3cr3t-value-123")
    rc, err = validate(write_conf(tmp_path, env="name: t\nlanding_root: /x\nlakehouse_root: /y\nspark: ${MEDALLION_TEST_SECRET}\n"), capsys)
    assert rc == 2 and "spark" in err
    assert "s3cr3t-value-123" not in err


def test_schema_errors_happen_before_a_jvm_starts(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, SAMPLE_PIPELINE.replace("format: json ", "format: xml "))
    code = textwrap.dedent(
        f"""
        import sys
        from medallion.cli import main
        rc = main(["validate", "--pipeline", {str(conf / 'pipelines/p.yaml')!r}, "--env", "test", "--conf-dir", {str(conf)!r}])
        assert "pyspark" not in sys.modules, "pyspark was imported before the schema error"
        sys.exit(rc)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "source.format" in proc.stderr


SQL_ERRORS = [
    pytest.param("cast(order_id as bigint)", "cast(order_id as bigint", "silver.columns.order_id", id="column-expr"),
    pytest.param("order_id is not null", "order_id is not", "silver.expectations.0.expr (order_id_present)", id="expectation"),
    pytest.param("sum(amount)", "sum(amount))", "gold.0 (daily_revenue).measures.revenue", id="measure"),
    pytest.param("to_date(updated_at)", "to_date(updated_at", "gold.0 (daily_revenue).derive.order_date", id="derive"),
]


@pytest.mark.parametrize(("old", "new", "key"), SQL_ERRORS)
def test_sql_that_does_not_parse_exits_2(
    spark, tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, key: str  # noqa: ANN001
) -> None:
    conf = write_conf(tmp_path, SAMPLE_PIPELINE.replace(old, new, 1))
    rc, err = validate(conf, capsys)
    assert rc == 2
    assert "p.yaml" in err and key in err and "not a valid Spark SQL" in err


def test_gold_sql_must_be_a_query(spark, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    gold = "gold:\n  - table: t\n    sql: \"DROP TABLE {silver}\"\n"
    pipeline = SAMPLE_PIPELINE.split("gold:")[0] + gold
    rc, err = validate(write_conf(tmp_path, pipeline), capsys)
    assert rc == 2 and "gold.0 (t).sql" in err and "SELECT" in err


def test_valid_sample_validates(spark, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    rc = main(["validate", "--pipeline", str(ROOT / "conf/pipelines/orders.yaml"), "--env", "local", "--conf-dir", str(ROOT / "conf")])
    assert rc == 0, capsys.readouterr().err


def test_published_json_schemas_are_current() -> None:
    for name, schema in json_schemas().items():
        published = json.loads((ROOT / "schemas" / name).read_text())
        assert published == json.loads(json.dumps(schema)), f"schemas/{name} is stale: run `medallion schema`"
