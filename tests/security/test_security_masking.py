"""Masking (one function for every sink), the hardened session, and source confinement."""
from __future__ import annotations

from pathlib import Path

import pytest

from medallion.audit.outcome import LayerOutcome, RunContext
from medallion.audit.run_log import RunRecord
from medallion.config import EnvConfig, PipelineConfig
from medallion.errors import ConfigError
from medallion.logs import mask_secrets
from medallion.security.source_roots import check_source_root

ACCOUNT_KEY = "A" * 44 + "Bz09+/" * 7 + "=="  # 88 characters ending in ==: a storage account key
CREDENTIALS = {
    "account_key_labelled": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc123secretKEY==;EndpointSuffix=x",
    "account_key_bare": f"key is {ACCOUNT_KEY} here",
    "sas": "https://a.blob.core.windows.net/c/f?sv=2022-11-02&sig=AbC%2Bdef123secret&se=2026",
    "bearer": "Authorization: Bearer eyJhbGciOi.secretpart.sig",
    "client_secret": "client_secret=s3cr3tValue&grant_type=client_credentials",
    "entra_secret": "secret abC8Q~" + "x1Y2z3" * 5 + "abcd" + " used",  # 40 characters
    "ado_pat": "pat " + "abcdefghijklmnopqrstuvwxyz234567" + "abcdefghijklmnopqrst" + " end",
    "jwt": "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}
SECRET_PARTS = ["abc123secretKEY", ACCOUNT_KEY, "AbC%2Bdef123secret", "secretpart", "s3cr3tValue", "x1Y2z3x1Y2z3",
                "abcdefghijklmnopqrstuvwxyz234567", "dozjgNryP4J3"]


@pytest.mark.parametrize("name", sorted(CREDENTIALS))
def test_credential_shapes_are_masked(name: str) -> None:
    masked = mask_secrets(CREDENTIALS[name])
    assert "***" in masked
    assert not [p for p in SECRET_PARTS if p in masked], masked


def test_secret_env_values_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_DEVOPS_EXT_PAT", "plainpatvalue42")
    monkeypatch.setenv("SERVICE_PWD", "hunter22")
    assert mask_secrets("a plainpatvalue42 b hunter22 c") == "a *** b *** c"
    assert mask_secrets("orders 2026-01-01 amount 12.50") == "orders 2026-01-01 amount 12.50"


def test_the_run_log_error_column_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "theclientsecret")
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    record = RunRecord.of(LayerOutcome(), context=RunContext("r", now), pipeline="p", environment="e", layer="silver",
                          table="t", ended_at=now, error="raise_error: theclientsecret sig=abcdef&x")
    assert record.error == "raise_error: *** sig=***&x"
    assert "theclientsecret" not in str(record.columns())


def test_session_forces_the_sandbox_settings(spark) -> None:  # noqa: ANN001
    from medallion.security.hardening import config_sql, harden

    spark.conf.set("spark.sql.variable.substitute", "true")
    harden(spark, {"spark.sql.variable.substitute": "true"})  # as an env file's spark: map would ask
    assert spark.conf.get("spark.sql.variable.substitute") == "false"
    assert spark.sql("SELECT '${spark.app.name}' AS v").first().v == "${spark.app.name}"
    spark.conf.set("spark.sql.runSQLOnFiles", "true")
    with config_sql(spark), pytest.raises(Exception, match="TABLE_OR_VIEW_NOT_FOUND|not a valid name"):
        spark.sql("SELECT * FROM text.`/etc/hostname`").collect()
    assert spark.conf.get("spark.sql.runSQLOnFiles") == "true"  # restored: Delta's builder needs it


def _pipeline(path: str) -> PipelineConfig:
    return PipelineConfig.model_validate({"dataset": "d", "source": {"format": "json", "path": path, "source_system": "s"},
                                          "bronze": {"table": "d"}})


def test_sources_stay_under_the_allowed_roots(tmp_path: Path) -> None:
    env = EnvConfig(name="t", landing_root=str(tmp_path / "landing"), lakehouse_root=str(tmp_path / "lake"))
    check_source_root(env, _pipeline("orders"), file="p.yaml")
    check_source_root(env, _pipeline(str(tmp_path / "landing" / "x")), file="p.yaml")
    for bad in ["../../etc", "/etc", str(tmp_path / "landing-other"), "abfss://c@acct.dfs.core.windows.net/x"]:
        with pytest.raises(ConfigError, match="p.yaml: source.path: .*outside the allowed source roots"):
            check_source_root(env, _pipeline(bad), file="p.yaml")
    lake = "abfss://lake@acct.dfs.core.windows.net/landing"
    env2 = EnvConfig.model_validate({"name": "t", "landing_root": lake, "lakehouse_root": str(tmp_path / "lake"),
                                     "sources": {"allowed_roots": [lake, str(tmp_path / "extra")]}})
    check_source_root(env2, _pipeline("orders"), file="p.yaml")
    check_source_root(env2, _pipeline(str(tmp_path / "extra" / "y")), file="p.yaml")
    with pytest.raises(ConfigError):
        check_source_root(env2, _pipeline("abfss://lake@acct.dfs.core.windows.net/landing/../secrets"), file="p.yaml")
