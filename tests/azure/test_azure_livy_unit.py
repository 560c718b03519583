"""Decisions of the submit path that need no server: payload, state classification, logging commands."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from medallion.azure.credentials import StaticTokenCredential, build_credential, describe_token, token_claims
from medallion.azure.devops import (
    ado_escape_property,
    ado_group,
    ado_logissue,
    ado_set_output,
    neutralize_log_line,
)
from medallion.azure.livy import (
    Outcome,
    batches_url,
    classify,
    monitoring_url,
    workspace_endpoint,
)
from medallion.azure.payload import LAYER_JOBS, BatchSpec, build_payload
from medallion.azure.polling import failure_line, stderr_excerpt
from medallion.cli import build_parser
from medallion.errors import ConfigError
from tests.azure.helpers import WHEEL, make_token

ROOT = "abfss://artifacts@acct.dfs.core.windows.net/medallion/20261126.1"


def test_payload_for_a_layer_matches_the_spec_fields() -> None:
    spec = BatchSpec(artifact_root=ROOT + "/", layer="silver", pipeline="orders", environment="dev",
                     wheel="medallion-0.2.0-py3-none-any.whl",
                     executor_size="Medium", executors=3, conf={"spark.sql.shuffle.partitions": "64"},
                     tags={"build": "42"})
    payload = build_payload(spec)
    assert payload == {
        "name": "medallion-orders-silver-dev",
        "file": f"{ROOT}/jobs/silver_job.py",
        "pyFiles": [f"{ROOT}/medallion-0.2.0-py3-none-any.whl"],
        "archives": [f"{ROOT}/conf.zip#conf", f"{ROOT}/deps.zip#deps"],
        "args": ["--pipeline", "conf/pipelines/orders.yaml", "--env", "dev", "--conf-dir", "conf"],
        "conf": {"spark.sql.shuffle.partitions": "64", "spark.yarn.appMasterEnv.PYTHONPATH": "deps",
                 "spark.executorEnv.PYTHONPATH": "deps"},
        "driverMemory": "56g",
        "driverCores": 8,
        "executorMemory": "56g",
        "executorCores": 8,
        "numExecutors": 3,
        "tags": {"medallion.pipeline": "orders", "medallion.layer": "silver",
                 "medallion.environment": "dev", "build": "42"},
    }


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [("orders", "conf/pipelines/orders.yaml"),
     ("pipelines/orders.yaml", "conf/pipelines/orders.yaml"),
     ("conf/pipelines/orders.yaml", "conf/pipelines/orders.yaml")],
)
def test_pipeline_argument_is_a_path_inside_the_conf_archive(pipeline: str, expected: str) -> None:
    spec = BatchSpec(artifact_root=ROOT, layer="gold", pipeline=pipeline, environment="prod", wheel=WHEEL)
    assert build_payload(spec)["args"][1] == expected
    assert build_payload(spec)["name"] == "medallion-orders-gold-prod"


def test_check_runs_the_check_job_with_the_layer_arguments() -> None:
    payload = build_payload(BatchSpec(artifact_root=ROOT, layer="check", pipeline="orders", environment="test",
                                      wheel=WHEEL))
    assert payload["file"] == f"{ROOT}/jobs/check_job.py"
    assert payload["args"] == ["--pipeline", "conf/pipelines/orders.yaml", "--env", "test", "--conf-dir", "conf"]
    assert (payload["name"], payload["tags"]["medallion.layer"]) == ("medallion-orders-check-test", "check")


def test_report_takes_no_pipeline_and_gets_its_arguments() -> None:
    spec = BatchSpec(artifact_root=ROOT, layer="report", pipeline="", environment="dev", wheel=WHEEL,
                     extra_args=("--all", "--out", "abfss://lake@acct.dfs.core.windows.net/_reports/r-7.html"))
    payload = build_payload(spec)
    assert payload["file"] == f"{ROOT}/jobs/report_job.py"
    assert payload["args"] == ["--env", "dev", "--conf-dir", "conf", "--all", "--out",
                               "abfss://lake@acct.dfs.core.windows.net/_reports/r-7.html"]
    assert payload["name"] == "medallion-all-report-dev"
    with pytest.raises(ConfigError):
        build_payload(BatchSpec(artifact_root=ROOT, layer="bronze", pipeline="", environment="dev", wheel=WHEEL))


def test_without_dependencies_no_archive_and_no_pythonpath() -> None:
    payload = build_payload(BatchSpec(artifact_root=ROOT, layer="bronze", pipeline="orders", environment="dev",
                                      wheel=WHEEL, dependencies=None))
    assert payload["archives"] == [f"{ROOT}/conf.zip#conf"] and payload["conf"] == {}


def test_every_submit_layer_has_a_job_file_in_the_repo() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert all((repo / job).is_file() for job in LAYER_JOBS.values())
    for layer in LAYER_JOBS:
        args = build_parser().parse_args(["submit", "--pool", "p", "--layer", layer, "--pipeline", "orders",
                                          "--env", "dev", "--artifact-root", ROOT, "--wheel", WHEEL])
        assert args.layer == layer


@pytest.mark.parametrize(
    "change", [{"layer": "platinum"}, {"executor_size": "Huge"}, {"executors": 0}, {"artifact_root": " "},
               {"wheel": ""}, {"wheel": "dist/medallion.whl"}, {"wheel": "medallion.tar.gz"}]
)
def test_bad_specs_are_configuration_errors(change: dict) -> None:
    values = {"artifact_root": ROOT, "layer": "bronze", "pipeline": "orders", "environment": "dev",
              "wheel": WHEEL, **change}
    with pytest.raises(ConfigError):
        build_payload(BatchSpec(**values))


@pytest.mark.parametrize(
    ("state", "result", "outcome"),
    [
        ("not_started", "Uncertain", Outcome.RUNNING),
        ("starting", None, Outcome.RUNNING),
        ("running", "Uncertain", Outcome.RUNNING),
        ("recovering", None, Outcome.RUNNING),
        ("busy", None, Outcome.RUNNING),
        ("shutting_down", None, Outcome.RUNNING),
        ("success", "Succeeded", Outcome.SUCCEEDED),
        ("success", None, Outcome.SUCCEEDED),
        ("success", "Failed", Outcome.FAILED),
        ("dead", "Failed", Outcome.FAILED),
        ("killed", "Cancelled", Outcome.FAILED),
        ("error", None, Outcome.FAILED),
        ("DEAD", None, Outcome.FAILED),
    ],
)
def test_classify(state: str, result: str | None, outcome: Outcome) -> None:
    assert classify({"id": 1, "state": state, "result": result}) is outcome


def test_urls() -> None:
    assert workspace_endpoint("ws1") == "https://ws1.dev.azuresynapse.net"
    assert batches_url("https://ws1.dev.azuresynapse.net/", "pool1") == (
        "https://ws1.dev.azuresynapse.net/livyApi/versions/2019-11-01-preview/sparkPools/pool1/batches"
    )
    with pytest.raises(ConfigError):
        batches_url("https://x", "a/b")


def test_logging_commands() -> None:
    assert ado_set_output("batchId", "17") == "##vso[task.setvariable variable=batchId;isOutput=true]17"
    assert ado_logissue("error", "50% done\nthen failed") == (
        "##vso[task.logissue type=error]50%AZP25 done%0Athen failed"
    )
    assert ado_escape_property("a;b]c") == "a%3Bb%5Dc"
    with pytest.raises(ValueError):
        ado_logissue("info", "x")


def test_job_log_lines_cannot_inject_logging_commands() -> None:
    lines = ado_group("log", ["ok", "##vso[task.setvariable variable=x]pwned", "##[endgroup]", "tail\n"])
    assert lines[0] == "##[group]log" and lines[-1] == "##[endgroup]"
    assert lines[1:-1] == ["ok", "# #vso[task.setvariable variable=x]pwned", "# #[endgroup]", "tail"]
    assert neutralize_log_line("plain") == "plain"


def test_static_token_is_not_shown_by_repr_and_its_expiry_is_read_not_guessed() -> None:
    credential = StaticTokenCredential("s3cr3t")
    assert "s3cr3t" not in repr(credential)
    assert "s3cr3t" not in repr(credential.get_token("scope"))
    assert credential.get_token("scope").token == "s3cr3t"
    assert credential.get_token("scope").expires_on == 0  # not a JWT: unknown, not "now + 1 h"
    token = make_token(expires_on=1_800_000_000)
    assert StaticTokenCredential(token).get_token("scope").expires_on == 1_800_000_000


def test_describe_token_says_audience_and_expiry_never_the_token() -> None:
    token = make_token(audience="https://storage.azure.com", expires_on=1_700_000_000)
    text = describe_token(token, now=1_800_000_000)
    assert text.startswith("audience https://storage.azure.com, expired 2023-11-14 22:13:20 UTC")
    assert token not in text and token.split(".")[2] not in text
    assert token_claims("not-a-jwt") == {} and "not a JWT" in describe_token("x.y")


def test_build_credential_prefers_the_pipelines_credential(monkeypatch) -> None:
    env = {"SYSTEM_ACCESSTOKEN": "ado", "AZURESUBSCRIPTION_CLIENT_ID": "c", "AZURESUBSCRIPTION_TENANT_ID": "t",
           "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID": "sc", "MEDALLION_SYNAPSE_TOKEN": make_token()}
    credential = build_credential("auto", token_env="MEDALLION_SYNAPSE_TOKEN", environ=env)
    assert type(credential).__name__ == "AzurePipelinesCredential"
    handed = build_credential("auto", token_env="MEDALLION_SYNAPSE_TOKEN",
                              environ={"MEDALLION_SYNAPSE_TOKEN": make_token()})
    assert isinstance(handed, StaticTokenCredential) and handed.renewable is False
    with pytest.raises(ConfigError, match="SYSTEM_ACCESSTOKEN"):
        build_credential("pipelines", environ={"AZURESUBSCRIPTION_CLIENT_ID": "c"})
    with pytest.raises(ConfigError):
        build_credential("kerberos", environ={})


def test_monitoring_url_needs_the_resource_ids() -> None:
    assert monitoring_url(workspace="ws", pool="p", batch_name="b", batch_id=3) is None
    url = monitoring_url(workspace="ws", pool="p", batch_name="medallion orders", batch_id=3,
                         subscription_id="s", resource_group="rg")
    assert url == ("https://web.azuresynapse.net/en/monitoring/sparkapplication/medallion%20orders?workspace="
                   "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Synapse/workspaces/ws&livyId=3&sparkPoolName=p")


def test_stderr_excerpt_keeps_the_traceback_that_shutdown_logging_pushed_out() -> None:
    lines = ["INFO start"] + ["Traceback (most recent call last):", '  File "job.py", line 3, in <module>',
                              "    load()", "pydantic_core._pydantic_core.ValidationError: 1 validation error"]
    lines += [f"26/11/27 INFO ShutdownHookManager: line {i}" for i in range(200)]
    excerpt = stderr_excerpt(lines, 30)
    assert excerpt[:4] == lines[1:5] and excerpt[4] == "[...]" and excerpt[-1] == lines[-1]
    assert failure_line(lines) == "pydantic_core._pydantic_core.ValidationError: 1 validation error"
    assert failure_line(["a", "b", ""]) == "b"
    assert stderr_excerpt(["x"] * 5, 30) == ["x"] * 5
    assert time.time() > 0
