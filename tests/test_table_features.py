"""`consumers:` in the env file: validate warns when a table feature we would enable is unreadable by one."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from medallion.cli import main
from medallion.config import load_env, load_pipeline
from medallion.config.table_features import CONSUMERS, features_enabled, unreadable_features
from medallion.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _env(tmp_path: Path, **extra: object) -> Path:
    data = {"name": "t", "landing_root": str(tmp_path / "landing"), "lakehouse_root": str(tmp_path / "lake"), **extra}
    return _write(tmp_path / "env.yaml", data)


def _pipeline(tmp_path: Path, *, deletion_vectors: bool) -> Path:
    data = yaml.safe_load((ROOT / "conf/pipelines/orders.yaml").read_text(encoding="utf-8"))
    data["silver"]["deletion_vectors"] = deletion_vectors
    return _write(tmp_path / "orders.yaml", data)


def test_deletion_vectors_are_unreadable_by_synapse_serverless_sql_only(tmp_path: Path) -> None:
    env = load_env(_env(tmp_path, consumers=["synapse_serverless_sql", "fabric_sql_endpoint", "synapse_spark"]))
    pipeline = load_pipeline(_pipeline(tmp_path, deletion_vectors=True))
    warnings = unreadable_features([pipeline], env.consumers, env.spark)
    assert [(w.consumer, w.feature) for w in warnings] == [("synapse_serverless_sql", "deletionVectors")]
    assert "silver.deletion_vectors of orders" in warnings[0].message()


def test_no_warning_without_the_feature_or_without_consumers(tmp_path: Path) -> None:
    plain = load_pipeline(_pipeline(tmp_path, deletion_vectors=False))
    assert unreadable_features([plain], ["synapse_serverless_sql"], {}) == []
    with_dv = load_pipeline(_pipeline(tmp_path, deletion_vectors=True))
    assert unreadable_features([with_dv], [], {}) == []


def test_delta_session_defaults_count_as_enabling_a_feature(tmp_path: Path) -> None:
    plain = load_pipeline(_pipeline(tmp_path, deletion_vectors=False))
    spark = {"spark.databricks.delta.properties.defaults.enableDeletionVectors": "TRUE",
             "spark.databricks.delta.properties.defaults.columnMapping.mode": "name"}
    assert set(features_enabled(plain, spark)) == {"deletionVectors", "columnMapping"}
    assert features_enabled(plain, {"spark.databricks.delta.properties.defaults.columnMapping.mode": "none"}) == {}
    pairs = {(w.consumer, w.feature) for w in unreadable_features([plain], ["synapse_serverless_sql", "fabric_spark"], spark)}
    assert pairs == {("synapse_serverless_sql", "deletionVectors"), ("synapse_serverless_sql", "columnMapping")}


def test_an_unknown_consumer_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_env(_env(tmp_path, consumers=["synapse_dedicated_sql"]))
    assert "consumers" in str(err.value) and "env.yaml" in str(err.value)
    assert "synapse_dedicated_sql" not in CONSUMERS


@pytest.mark.delta
def test_validate_prints_the_warning_and_still_succeeds(spark, tmp_path: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    env_file = tmp_path / "conf/env/local.yaml"
    env = yaml.safe_load(env_file.read_text(encoding="utf-8"))
    _write(env_file, {**env, "consumers": ["synapse_serverless_sql", "fabric_sql_endpoint"]})
    pipe_file = tmp_path / "conf/pipelines/orders.yaml"
    pipe = yaml.safe_load(pipe_file.read_text(encoding="utf-8"))
    pipe["silver"]["deletion_vectors"] = True
    _write(pipe_file, pipe)
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--pipeline", "conf/pipelines/orders.yaml", "--env", "local"]) == 0
    out = capsys.readouterr().out
    assert "OK: conf/pipelines/orders.yaml" in out
    warnings = [line for line in out.splitlines() if line.startswith("WARNING:")]
    assert len(warnings) == 1 and "'synapse_serverless_sql'" in warnings[0] and "deletionVectors" in warnings[0]
    assert not (tmp_path / ".lakehouse").exists()  # validate writes nothing
